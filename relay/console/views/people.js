// The face library (`t/:tenant/people`, `t/:tenant/people/:person`): the tenant's people
// with their enrolled photos; operators and tenant admins add, rename and delete people and
// upload photos (each answered with the quality verdict or the reason it was refused).
// Viewers read it. The photos show through the time-limited URLs the API gives.

import { t, register, plural } from '../common/i18n.js';
import { h, fill, field, confirmButton } from '../common/dom.js';
import { showError, showMessage } from '../common/api.js';
import { formatBytes, formatNumber, formatTime } from '../common/format.js';
import { api, caller, holdsAnywhere } from '../session.js';
import { searchFor } from './searches.js';

register({
  'nav.people': 'Face library',
  'people.title': 'Face library',
  'people.intro': 'The people a search can look for. Each needs at least one photo showing their face alone.',
  'people.empty': 'Nobody is in the library yet.',
  'people.add_title': 'Add a person',
  'people.name': 'Name',
  'people.notes': 'Notes',
  'people.labels': 'Labels',
  'people.labels_hint': 'Separated by commas, e.g. resident, staff.',
  'people.labels_example': 'resident, staff',
  'people.add': 'Add',
  'people.photos_n': ({ n }) => `${n} ${plural(n, 'photo', 'photos')}`,
  'people.no_photo': 'No photo yet',
  'people.open': 'Open',
  'people.back': 'All people',
  'people.rename': 'Save',
  'people.details': 'Name and notes',
  'people.saved': 'Saved.',
  'people.photos': 'Enrolled photos',
  'people.photos_empty': 'No photo yet: add one so searches can look for this person.',
  'people.upload': 'Add a photo',
  'people.upload_hint': 'A JPEG or PNG showing this person\'s face alone, looking at the camera.',
  'people.uploading': 'Checking the photo…',
  'people.accepted': ({ score, w, h: height }) => `Accepted: one face found (detector score ${score}, face ${w} × ${height} px).`,
  'people.refused': 'Refused:',
  'people.photo_alt': 'Enrolled photo of {name}',
  'people.score': 'Score {score}',
  'people.model': 'Model {model}',
  'people.delete_photo': 'Remove',
  'people.confirm_delete_photo': 'Click again to remove',
  'people.delete': 'Delete this person',
  'people.confirm_delete': 'Click again: the person and every photo go',
  'people.search_for': 'Search for this person',
  'people.added': 'Added {when}',
  'people.photo_missing': 'The photo cannot be shown.',
}, {
  'nav.people': '人脸库',
  'people.title': '人脸库',
  'people.intro': '检索可查找的人员。每人至少需要一张只含其本人面部的照片。',
  'people.empty': '人脸库中还没有人员。',
  'people.add_title': '添加人员',
  'people.name': '姓名',
  'people.notes': '备注',
  'people.labels': '标签',
  'people.labels_hint': '用逗号分隔，例如：住户, 员工。',
  'people.labels_example': '住户, 员工',
  'people.add': '添加',
  'people.photos_n': ({ n }) => `${n} 张照片`,
  'people.no_photo': '暂无照片',
  'people.open': '打开',
  'people.back': '全部人员',
  'people.rename': '保存',
  'people.details': '姓名和备注',
  'people.saved': '已保存。',
  'people.photos': '已录入照片',
  'people.photos_empty': '暂无照片：请添加照片，以便检索此人。',
  'people.upload': '添加照片',
  'people.upload_hint': 'JPEG 或 PNG，只含此人的面部，正对镜头。',
  'people.uploading': '正在检查照片…',
  'people.accepted': ({ score, w, h: height }) => `已接受：找到一张人脸（检测得分 ${score}，人脸 ${w} × ${height} 像素）。`,
  'people.refused': '已拒绝：',
  'people.photo_alt': '{name} 的录入照片',
  'people.score': '得分 {score}',
  'people.model': '模型 {model}',
  'people.delete_photo': '移除',
  'people.confirm_delete_photo': '再次点击以移除',
  'people.delete': '删除此人',
  'people.confirm_delete': '再次点击：此人及其全部照片将被删除',
  'people.search_for': '检索此人',
  'people.added': '添加于 {when}',
  'people.photo_missing': '无法显示此照片。',
});

const base = (tenant) => `/api/v1/tenants/${encodeURIComponent(tenant)}/people`;
/** Operators and tenant admins (of any area) manage the library: the API's rule. */
const mayEdit = () => holdsAnywhere('operator');

/** Labels typed as a comma-separated list (either comma), without blanks and repeats. */
function parseLabels(text) {
  const labels = [];
  for (const part of text.split(/[,，]/)) {
    const label = part.trim();
    if (label && !labels.includes(label)) labels.push(label);
  }
  return labels;
}

function labelBadges(labels) {
  return (labels || []).map((label) => h('span', { class: 'badge label' }, label));
}

/** A photo's thumbnail; says so when the picture cannot be loaded (an expired URL). */
function thumbnail(photo, name, attrs = {}) {
  const missing = h('span', { class: 'muted small thumb-missing', hidden: true }, t('people.photo_missing'));
  const img = h('img', {
    src: photo.photo_url, alt: t('people.photo_alt', { name }), loading: 'lazy', ...attrs,
    onerror: () => { img.hidden = true; missing.hidden = false; },
  });
  return [img, missing];
}

// ---------------------------------------------------------------------------------------
// Every person

function renderPeople(ctx, params) {
  const tenant = params.tenant;
  const list = h('div', { id: 'people-list', class: 'people-grid' }, h('p', { class: 'muted' }, t('boot.loading')));
  const error = h('div', { class: 'error', id: 'people-error', role: 'alert', hidden: true });

  async function load() {
    let people;
    try {
      people = (await api('GET', `${base(tenant)}?limit=500`)).items;
    } catch (e) {
      ctx.fail(error, e);
      fill(list);
      return;
    }
    if (!ctx.alive) return;
    showError(error, null);
    if (people.length === 0) {
      fill(list, h('p', { class: 'empty', id: 'people-empty' }, t('people.empty')));
      return;
    }
    const cards = people.map((person) => personCard(tenant, person));
    fill(list, cards.map((c) => c.node));
    // The first photo of each, a few people at a time (the list itself has no photos).
    const queue = cards.filter((c) => c.person.photo_count > 0);
    const worker = async () => {
      while (queue.length && ctx.alive) {
        const card = queue.shift();
        try {
          const full = await api('GET', `${base(tenant)}/${card.person.id}`);
          if (ctx.alive) card.photos(full.photos || []);
        } catch (e) {
          console.warn('a person\'s photos', e);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  const form = mayEdit() ? addForm(tenant, ctx) : null;
  load();
  return h('section', { id: 'people', class: 'view' },
    h('div', { class: 'view-head' }, h('h1', {}, t('people.title'))),
    h('p', { class: 'muted' }, t('people.intro')),
    form,
    error,
    list);
}

function personCard(tenant, person) {
  const href = `#/t/${tenant}/people/${person.id}`;
  const pictures = h('div', { class: 'person-photos' },
    person.photo_count > 0 ? null : h('span', { class: 'no-photo muted small' }, t('people.no_photo')));
  const node = h('article', { class: 'card person', id: `person-${person.id}` },
    h('a', { class: 'person-open', href }, pictures,
      h('strong', { class: 'person-name' }, person.name)),
    h('div', { class: 'person-meta small muted' }, t('people.photos_n', { n: person.photo_count })),
    person.labels && person.labels.length ? h('div', { class: 'labels' }, labelBadges(person.labels)) : null);
  return {
    person,
    node,
    photos(photos) {
      fill(pictures, photos.slice(0, 3).map((p) => h('span', { class: 'thumb' }, thumbnail(p, person.name))));
    },
  };
}

function addForm(tenant, ctx) {
  const name = h('input', { id: 'person-name', type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
  const labels = h('input', { id: 'person-labels', type: 'text', autocomplete: 'off', placeholder: t('people.labels_example') });
  const error = h('div', { class: 'error', id: 'person-add-error', role: 'alert', hidden: true });
  const submit = h('button', { id: 'person-add', type: 'submit', class: 'primary' }, t('people.add'));
  return h('form', {
    id: 'person-add-form', class: 'card add-form', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      const body = { name: name.value.trim() };
      if (!body.name) {
        showMessage(error, t('error.missing_field'));
        name.focus();
        return;
      }
      const given = parseLabels(labels.value);
      if (given.length) body.labels = given;
      submit.disabled = true;
      try {
        const person = await api('POST', base(tenant), body);
        if (ctx.alive) ctx.go(`#/t/${tenant}/people/${person.id}`);
      } catch (e) {
        showError(error, e);
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('h2', {}, t('people.add_title')),
  error,
  h('div', { class: 'inline-form' },
    field(t('people.name'), name),
    field(t('people.labels'), labels),
    submit));
}

// ---------------------------------------------------------------------------------------
// One person

function renderPerson(ctx, params) {
  const { tenant, person: id } = params;
  const path = `${base(tenant)}/${encodeURIComponent(id)}`;
  const title = h('h1', { id: 'person-title' }, t('boot.loading'));
  const error = h('div', { class: 'error', id: 'person-error', role: 'alert', hidden: true });
  const body = h('div', { id: 'person-body' });
  const edit = mayEdit();
  let person = null;

  async function load() {
    try {
      person = await api('GET', path);
    } catch (e) {
      ctx.fail(error, e);
      fill(title, t('people.title'));
      return;
    }
    if (!ctx.alive) return;
    showError(error, null);
    draw();
  }

  function draw() {
    fill(title, person.name);
    fill(body,
      h('p', { class: 'muted small' },
        t('people.photos_n', { n: person.photo_count }), ' · ',
        t('people.added', { when: formatTime(Date.parse(person.created_at)) })),
      person.labels.length ? h('div', { class: 'labels' }, labelBadges(person.labels)) : null,
      person.notes ? h('p', { class: 'notes', id: 'person-notes' }, person.notes) : null,
      photosCard(),
      edit ? detailsForm() : null,
      edit ? h('div', { class: 'actions danger-zone' },
        confirmButton({ id: 'person-delete', class: 'danger' }, t('people.delete'), t('people.confirm_delete'), remove))
        : null);
  }

  function photosCard() {
    const photos = person.photos || [];
    const grid = h('div', { id: 'person-photos', class: 'face-grid' },
      photos.map((photo) => h('figure', { class: 'face photo', id: `photo-${photo.id}` },
        thumbnail(photo, person.name),
        h('figcaption', { class: 'caption' },
          h('span', {}, t('people.score', { score: formatNumber(photo.score, 2) })),
          h('span', { class: 'muted' }, `${Math.round(photo.face_box[2])} × ${Math.round(photo.face_box[3])} px · ${formatBytes(photo.bytes)}`),
          h('span', { class: 'muted' }, t('people.model', { model: photo.model }))),
        edit ? confirmButton({ class: 'danger small-button photo-delete' }, t('people.delete_photo'),
          t('people.confirm_delete_photo'), () => removePhoto(photo)) : null)));
    return h('section', { class: 'card', id: 'person-photos-card' },
      h('h2', {}, t('people.photos')),
      photos.length ? grid : h('p', { class: 'muted', id: 'person-photos-empty' }, t('people.photos_empty')),
      edit ? uploadForm() : null,
      holdsAnywhere('operator') && photos.length
        ? h('button', { type: 'button', id: 'person-search', onclick: () => searchFor(ctx, tenant, person.id) }, t('people.search_for'))
        : null);
  }

  function uploadForm() {
    const input = h('input', { id: 'photo-file', type: 'file', accept: 'image/jpeg,image/png' });
    const verdict = h('div', { id: 'photo-verdict', role: 'status', 'aria-live': 'polite', hidden: true });
    input.addEventListener('change', async () => {
      const file = input.files && input.files[0];
      if (!file) return;
      input.disabled = true;
      verdict.className = 'notice';
      fill(verdict, t('people.uploading'));
      verdict.hidden = false;
      try {
        const bytes = await file.arrayBuffer();
        const type = file.type || (/\.png$/i.test(file.name) ? 'image/png' : 'image/jpeg');
        const photo = await api('POST', `${path}/photos`, bytes, type);
        if (!ctx.alive) return;
        person.photos = [...(person.photos || []), photo];
        person.photo_count += 1;
        draw();
        const shown = document.getElementById('photo-verdict');
        if (shown) {
          shown.className = 'outcome ok';
          fill(shown, t('people.accepted', {
            score: formatNumber(photo.score, 2),
            w: Math.round(photo.face_box[2]),
            h: Math.round(photo.face_box[3]),
          }));
          shown.hidden = false;
        }
      } catch (e) {
        if (!ctx.alive) return;
        if (e && e.status === 404) { ctx.notFound(); return; }
        verdict.className = 'outcome bad';
        showError(verdict, e);
        if (!verdict.hidden) verdict.prepend(h('strong', { class: 'refused' }, t('people.refused'), ' '));
        input.disabled = false;
        input.value = '';
      }
    });
    return h('div', { class: 'upload' },
      field(t('people.upload'), input, t('people.upload_hint')),
      verdict);
  }

  function detailsForm() {
    const name = h('input', { id: 'person-rename', type: 'text', required: true, maxlength: 200, value: person.name });
    const labels = h('input', { id: 'person-edit-labels', type: 'text', value: person.labels.join(', ') });
    const notes = h('textarea', { id: 'person-edit-notes', rows: 3, maxlength: 2000 });
    notes.value = person.notes || '';
    const message = h('div', { class: 'error', id: 'person-save-error', role: 'alert', hidden: true });
    const saved = h('p', { class: 'outcome ok', id: 'person-saved', hidden: true }, t('people.saved'));
    const submit = h('button', { id: 'person-save', type: 'submit', class: 'primary' }, t('people.rename'));
    return h('form', {
      id: 'person-form', class: 'card add-form', novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        saved.hidden = true;
        const update = { name: name.value.trim(), labels: parseLabels(labels.value), notes: notes.value };
        if (!update.name) {
          showMessage(message, t('error.missing_field'));
          return;
        }
        submit.disabled = true;
        try {
          const changed = await api('PATCH', path, update);
          if (!ctx.alive) return;
          person = { ...person, ...changed, photos: person.photos };
          draw();
          const shown = document.getElementById('person-saved');
          if (shown) shown.hidden = false;
        } catch (e) {
          if (e && e.status === 404) { ctx.notFound(); return; }
          showError(message, e);
          submit.disabled = false;
        }
      },
    },
    h('h2', {}, t('people.details')),
    message, saved,
    field(t('people.name'), name),
    field(t('people.labels'), labels, t('people.labels_hint')),
    field(t('people.notes'), notes),
    h('div', { class: 'actions' }, submit));
  }

  async function removePhoto(photo) {
    try {
      await api('DELETE', `${path}/photos/${photo.id}`);
    } catch (e) {
      if (e && e.status !== 404) { showError(error, e); return; }
    }
    if (!ctx.alive) return;
    person.photos = (person.photos || []).filter((p) => p.id !== photo.id);
    person.photo_count = person.photos.length;
    draw();
  }

  async function remove() {
    try {
      await api('DELETE', path);
    } catch (e) {
      if (e && e.status !== 404) { showError(error, e); return; }
    }
    if (ctx.alive) ctx.go(`#/t/${tenant}/people`);
  }

  load();
  return h('section', { id: 'person', class: 'view' },
    h('p', { class: 'crumbs' }, h('a', { href: `#/t/${tenant}/people`, id: 'person-back' }, t('people.back'))),
    h('div', { class: 'view-head' }, title),
    error,
    body);
}

export const routes = [
  { path: 't/:tenant/people', nav: 'people', scope: 'tenant', allowed: () => caller() != null, render: renderPeople },
  { path: 't/:tenant/people/:person', nav: null, title: 'people', scope: 'tenant', allowed: () => caller() != null, render: renderPerson },
];
