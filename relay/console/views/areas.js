// The area tree of a tenant (`#/t/<tenant>/areas`): create, rename, move (a "move to" select,
// or drag an area onto another) and delete with confirmation. Tenant admins change it (of the
// whole tenant, or of the areas under their grant); everyone else sees the tree only.
//
// Also the helpers the other tenant views share: every page of a list, the areas with their
// paths, and a select of areas.

import { register, t } from '../common/i18n.js';
import { h, fill, field, confirmButton } from '../common/dom.js';
import { showError, showMessage } from '../common/api.js';
import { api, caller, holds } from '../session.js';

register({
  'nav.areas': 'Areas',
  'areas.intro': 'Areas group boxes (a community, a building, a floor). A role granted on an area holds on every area below it.',
  'areas.new': 'New area',
  'areas.name': 'Name',
  'areas.parent': 'Under',
  'areas.root': '(top level)',
  'areas.create': 'Add area',
  'areas.empty': 'No areas yet.',
  'areas.rename': 'Rename',
  'areas.move_to': 'Move to…',
  'areas.moved': 'Moved.',
  'areas.created': 'Area added.',
  'areas.renamed': 'Renamed.',
  'areas.deleted': 'Area deleted.',
  'areas.drag_hint': 'Drag an area onto another to move it there.',
  'areas.drop_root': 'Drop here to move to the top level',
  'areas.name_missing': 'Give the area a name.',
  'areas.path_sep': ' › ',
}, {
  'nav.areas': '区域',
  'areas.intro': '区域用于组织设备（小区、楼栋、楼层）。在某区域上授予的角色对其下所有区域有效。',
  'areas.new': '新建区域',
  'areas.name': '名称',
  'areas.parent': '上级区域',
  'areas.root': '（顶层）',
  'areas.create': '添加区域',
  'areas.empty': '尚无区域。',
  'areas.rename': '重命名',
  'areas.move_to': '移动到…',
  'areas.moved': '已移动。',
  'areas.created': '已添加区域。',
  'areas.renamed': '已重命名。',
  'areas.deleted': '已删除区域。',
  'areas.drag_hint': '将一个区域拖到另一个区域上即可移动。',
  'areas.drop_root': '拖到此处移到顶层',
  'areas.name_missing': '请填写区域名称。',
  'areas.path_sep': ' › ',
});

// ---------------------------------------------------------------------------------------
// Shared helpers (boxes.js, users.js)

/** The API path of a tenant's collection. */
export const tenantPath = (tenant, rest = '') => `/api/v1/tenants/${encodeURIComponent(tenant)}${rest}`;

/** Every item of a paged list (`?limit=&offset=`), page by page. */
export async function listAll(path, limit = 500) {
  const items = [];
  for (let offset = 0; ; offset += limit) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', `${path}${sep}limit=${limit}&offset=${offset}`);
    items.push(...page.items);
    if (page.items.length < limit) return items;
  }
}

/**
 * The areas the caller sees, each with `ancestors` (ids from the top down, as far as the
 * caller sees) and `path` (names from the top down); sorted by path.
 */
export async function loadAreas(tenant) {
  const areas = await listAll(tenantPath(tenant, '/areas'));
  return withPaths(areas);
}

function withPaths(areas) {
  const byId = new Map(areas.map((a) => [a.id, a]));
  for (const area of areas) {
    const ancestors = [];
    const names = [area.name];
    const seen = new Set([area.id]);
    for (let up = byId.get(area.parent_id); up && !seen.has(up.id); up = byId.get(up.parent_id)) {
      seen.add(up.id);
      ancestors.unshift(up.id);
      names.unshift(up.name);
    }
    area.ancestors = ancestors;
    area.path = names;
  }
  return areas.sort((a, b) => a.path.join('\u0000').localeCompare(b.path.join('\u0000')));
}

/** An area's path as text: "Community › Building". */
export const areaLabel = (area) => (area ? area.path.join(t('areas.path_sep')) : '–');

/** Whether the caller holds `role` on `area` (through the tenant, it or an area above). */
export const holdsOn = (role, area) => holds(role, area.id, area.ancestors);

/** A `<select>` of `areas` (with their paths); `first` adds a leading option `[value, label]`. */
export function areaSelect(attrs, areas, first = null, selected = null) {
  return h('select', attrs,
    first ? h('option', { value: first[0] }, first[1]) : null,
    areas.map((a) => h('option', { value: a.id, selected: a.id === selected }, areaLabel(a))));
}

// ---------------------------------------------------------------------------------------
// The view

function render(ctx, params) {
  const tenant = params.tenant;
  const error = h('div', { id: 'areas-error', class: 'error', role: 'alert', hidden: true });
  const notice = h('p', { id: 'areas-notice', class: 'notice', role: 'status', hidden: true });
  const tree = h('div', { id: 'area-tree-wrap' }, h('p', { class: 'muted' }, t('boot.loading')));
  const createSlot = h('div');
  let areas = [];
  let dragged = null;
  /** The new area's name while typed: kept across a redraw (and a refusal). */
  let draft = '';

  const say = (text) => { showError(error, null); showMessage(notice, text); };
  const fail = (e) => { showMessage(notice, null); showError(error, e); };

  async function load() {
    try {
      areas = await loadAreas(tenant);
    } catch (e) {
      showMessage(notice, null);
      ctx.fail(error, e);
      return;
    }
    if (!ctx.alive) return;
    draw();
  }

  async function change(method, path, body, done) {
    let changed = true;
    try {
      await api(method, tenantPath(tenant, path), body);
      say(done);
    } catch (e) {
      fail(e);
      changed = false;
    }
    await load();
    return changed;
  }

  const tenantAdmin = () => holds('tenant_admin');

  /** Where `area` may move: the top level (tenant-wide admins) and areas not below it. */
  function destinations(area) {
    return areas.filter((a) => a.id !== area.id && !a.ancestors.includes(area.id)
      && a.id !== area.parent_id && holdsOn('tenant_admin', a));
  }

  function moveTo(area, parent) {
    return change('PATCH', `/areas/${area.id}`, { parent_id: parent }, t('areas.moved'));
  }

  function node(area, children) {
    const canEdit = holdsOn('tenant_admin', area);
    const name = h('span', { class: 'area-name', id: `area-name-${area.id}` }, area.name);
    const controls = [];
    if (canEdit) {
      const rename = h('button', {
        type: 'button', class: 'ghost small-button', id: `area-rename-${area.id}`,
        onclick: () => {
          const input = h('input', { id: `area-rename-input-${area.id}`, value: area.name, maxlength: 200, 'aria-label': t('areas.name') });
          const save = h('button', { type: 'submit', class: 'primary', id: `area-rename-save-${area.id}` }, t('action.save'));
          const form = h('form', {
            class: 'inline-form area-rename',
            onsubmit: (event) => {
              event.preventDefault();
              const value = input.value.trim();
              if (!value) return;
              change('PATCH', `/areas/${area.id}`, { name: value }, t('areas.renamed'));
            },
          }, input, save, h('button', { type: 'button', onclick: draw }, t('action.cancel')));
          name.replaceWith(form);
          input.focus();
        },
      }, t('areas.rename'));
      const targets = destinations(area);
      const toRoot = tenantAdmin() && area.parent_id;
      const move = targets.length === 0 && !toRoot ? null : h('select', {
        id: `area-move-${area.id}`, class: 'area-move', 'aria-label': t('areas.move_to'),
        onchange: () => {
          if (!move.value) return;
          moveTo(area, move.value === '-root' ? null : move.value);
        },
      },
      h('option', { value: '' }, t('areas.move_to')),
      toRoot ? h('option', { value: '-root' }, t('areas.root')) : null,
      targets.map((a) => h('option', { value: a.id }, areaLabel(a))));
      const remove = confirmButton({ id: `area-delete-${area.id}`, class: 'danger' },
        t('action.delete'), t('action.confirm_delete'),
        () => change('DELETE', `/areas/${area.id}`, undefined, t('areas.deleted')));
      controls.push(rename, move, remove);
    }
    const row = h('div', { class: 'area-row' }, name,
      controls.length ? h('span', { class: 'area-controls' }, controls) : null);
    const li = h('li', {
      id: `area-${area.id}`, class: 'area-node', 'data-id': area.id, draggable: canEdit ? 'true' : null,
      ondragstart: (event) => {
        if (!canEdit) return;
        event.stopPropagation();
        dragged = area;
        event.dataTransfer.setData('text/plain', area.id);
        event.dataTransfer.effectAllowed = 'move';
        document.getElementById('area-tree').classList.add('dragging');
      },
      ondragend: () => {
        dragged = null;
        const el = document.getElementById('area-tree');
        if (el) el.classList.remove('dragging');
      },
      ondragover: (event) => {
        if (dragged && destinations(dragged).some((a) => a.id === area.id)) {
          event.preventDefault();
          event.stopPropagation();
          li.classList.add('drop-target');
        }
      },
      ondragleave: () => li.classList.remove('drop-target'),
      ondrop: (event) => {
        li.classList.remove('drop-target');
        if (!dragged) return;
        event.preventDefault();
        event.stopPropagation();
        const moving = dragged;
        dragged = null;
        moveTo(moving, area.id);
      },
    }, row, children.length ? h('ul', { class: 'area-children' }, children) : null);
    return li;
  }

  function draw() {
    const ids = new Set(areas.map((a) => a.id));
    const children = new Map();
    for (const area of areas) {
      const parent = ids.has(area.parent_id) ? area.parent_id : null;
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(area);
    }
    const build = (parent) => (children.get(parent) || [])
      .slice().sort((a, b) => a.name.localeCompare(b.name))
      .map((area) => node(area, build(area.id)));
    const anyEditable = areas.some((a) => holdsOn('tenant_admin', a));
    const rootDrop = tenantAdmin() ? h('div', {
      id: 'area-root-drop', class: 'area-root-drop',
      ondragover: (event) => { if (dragged && dragged.parent_id) event.preventDefault(); },
      ondrop: (event) => {
        if (!dragged) return;
        event.preventDefault();
        const moving = dragged;
        dragged = null;
        moveTo(moving, null);
      },
    }, t('areas.drop_root')) : null;
    fill(tree, areas.length === 0
      ? h('p', { class: 'empty', id: 'areas-empty' }, t('areas.empty'))
      : [anyEditable ? h('p', { class: 'muted small' }, t('areas.drag_hint')) : null,
        h('ul', { id: 'area-tree', class: 'area-tree' }, build(null)), rootDrop]);
    drawCreate();
  }

  function drawCreate() {
    const parents = areas.filter((a) => holdsOn('tenant_admin', a));
    if (!tenantAdmin() && parents.length === 0) {
      fill(createSlot);
      return;
    }
    const name = h('input', {
      id: 'area-new-name', type: 'text', maxlength: 200, required: true, autocomplete: 'off', value: draft,
      oninput: () => { draft = name.value; },
    });
    const parent = areaSelect({ id: 'area-new-parent' }, parents, tenantAdmin() ? ['', t('areas.root')] : null);
    const submit = h('button', { id: 'area-create', type: 'submit', class: 'primary' }, t('areas.create'));
    fill(createSlot, h('form', {
      id: 'area-create-form', class: 'panel', novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const value = name.value.trim();
        if (!value) { showMessage(error, t('areas.name_missing')); return; }
        submit.disabled = true;
        const body = { name: value };
        if (parent.value) body.parent_id = parent.value;
        draft = value;
        if (await change('POST', '/areas', body, t('areas.created'))) {
          draft = '';
          const fresh = document.getElementById('area-new-name');
          if (fresh) fresh.value = '';
        }
      },
    },
    h('h2', {}, t('areas.new')),
    h('div', { class: 'inline-form' }, field(t('areas.name'), name), field(t('areas.parent'), parent), submit)));
  }

  load();
  return h('section', { id: 'areas-view', class: 'tenant-view' },
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.areas')),
      h('button', { type: 'button', id: 'areas-refresh', onclick: load }, t('action.refresh'))),
    h('p', { class: 'muted' }, t('areas.intro')),
    error, notice, createSlot, h('div', { class: 'panel' }, tree));
}

export const routes = [
  { path: 't/:tenant/areas', nav: 'areas', scope: 'tenant', allowed: () => caller() != null, render },
];
