// app.js: the playground's entry point: tabs (WAI-ARIA tab pattern: arrows, Home, End),
// the shared model list, and each panel's set-up.
import { $, showError } from './ui.js';
import { refreshModels } from './registry.js';
import { initModels } from './panel-models.js';
import { initScore } from './panel-score.js';
import { initNext } from './panel-next.js';
import { initNeighbors } from './panel-neighbors.js';
import { initGenerate } from './panel-generate.js';
import { initChat } from './panel-chat.js';

function selectTab(tab, focus) {
  for (const t of document.querySelectorAll('[role=tab]')) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
  }
  if (focus) tab.focus();
  history.replaceState(null, '', '#' + tab.id.slice(4));
}

function initTabs() {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  for (const t of tabs) {
    t.addEventListener('click', () => selectTab(t, false));
    t.addEventListener('keydown', (ev) => {
      const i = tabs.indexOf(t);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
      if (to === undefined) return;
      ev.preventDefault();
      selectTab(tabs[(to + tabs.length) % tabs.length], true);
    });
  }
  const start = tabs.find(t => '#' + t.id.slice(4) === location.hash);
  if (start) selectTab(start, false);
}

initTabs();
initModels();
initScore();
initNext();
initNeighbors();
initGenerate();
initChat();
refreshModels().catch(e => showError($('#models-error'), e));
