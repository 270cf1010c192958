// Building the DOM from data, text only: the box's page and the relay's console render
// everything through `h`, so nothing from the API ever becomes markup.

/** Properties set as such rather than as attributes (their live state matters). */
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'open', 'selected']);

/**
 * Builds an element. Text always goes in through text nodes and attributes through
 * setAttribute, so data from the API can never become markup. `on*` keys take functions
 * only (added with addEventListener); a string there is a programming error.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) {
      if (typeof value !== 'function') throw new TypeError(`${key} must be a function`);
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    } else if (PROPS.has(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children: nodes, text (strings, numbers) and nested arrays; null is skipped. */
export function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (typeof child === 'object' && 'nodeType' in child) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A labelled input: `<label>` around the text and the control. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

/**
 * A button that asks for a second click before acting (no window.confirm): the first click
 * turns it into "Click again to …" for a few seconds.
 */
export function confirmButton(attrs, label, confirmLabel, action) {
  let armed = false;
  let timer = 0;
  const button = h('button', {
    type: 'button', ...attrs,
    onclick: () => {
      if (!armed) {
        armed = true;
        button.classList.add('armed');
        fill(button, confirmLabel);
        timer = setTimeout(disarm, 4000);
        return;
      }
      disarm();
      action();
    },
  }, label);
  function disarm() {
    clearTimeout(timer);
    armed = false;
    button.classList.remove('armed');
    fill(button, label);
  }
  return button;
}
