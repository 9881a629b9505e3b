// vpc-provisioner's web console (docs/console.md). Everything on screen comes from the API
// with the signed-in person's ID token; the rules and messages are the API's. Data only ever
// reaches the page as text nodes and attribute values (never parsed as HTML), and the page's
// Content-Security-Policy allows no inline script or style.
'use strict';
(() => {
  const D = document;
  const cfg = D.body.dataset;
  const API = location.pathname.replace(/\/console\/?$/, '');
  const KEY = 'vpc-console';
  const STATUSES = ['QUEUED', 'IN_PROGRESS', 'ROLLING_BACK', 'SUCCEEDED', 'FAILED', 'CANCELLED',
    'DELETING', 'DELETED', 'DELETE_FAILED'];
  const UNFINISHED = new Set(['QUEUED', 'IN_PROGRESS', 'ROLLING_BACK', 'DELETING']);
  const POLL_MS = 2000;
  const main = D.getElementById('main');
  const SVGNS = 'http://www.w3.org/2000/svg';

  // --- DOM: text and attributes only -------------------------------------------------------
  function build(node, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid != null && kid !== false) node.append(kid instanceof Node ? kid : String(kid));
    }
    return node;
  }
  const el = (tag, attrs, ...kids) => build(D.createElement(tag), attrs, kids);
  const sv = (tag, attrs, ...kids) => build(D.createElementNS(SVGNS, tag), attrs, kids);
  const fill = (node, ...kids) => { node.replaceChildren(); return build(node, null, kids); };

  class Failure extends Error {
    constructor(message, status = 0, code = '', retryAfter = null) {
      super(message);
      Object.assign(this, { status, code, retryAfter });
    }
  }
  const SIGNED_OUT = 'SignedOut';

  // `retry`, for a failure that may pass (no answer, a 429, a 5xx): its "Try again" button.
  function alertBox(failure, id, retry) {
    const f = failure instanceof Failure ? failure : new Failure(String(failure && failure.message || failure));
    const wait = f.retryAfter ? ` Try again in ${f.retryAfter} s.` : '';
    return el('div', { class: 'alert', role: 'alert', id, tabindex: -1 },
      f.code ? el('strong', {}, f.status ? `${f.status} ${f.code}` : f.code) : null, f.message + wait,
      retry && (!f.status || f.status === 429 || f.status > 499) ? el('button', { type: 'button', onclick: retry }, 'Try again') : null);
  }
  function clearAlerts() { D.querySelectorAll('[role=alert]').forEach((n) => n.remove()); }
  // One alert on the page at a time, where it belongs. An answer for a view no longer on
  // screen (its slot gone with it) is dropped: it never takes away the current view's alert.
  function showAlert(slot, failure, id, retry) {
    if (!slot.isConnected || (failure instanceof Failure && failure.code === SIGNED_OUT)) return;
    clearAlerts();
    fill(slot, alertBox(failure, id, retry));
  }

  // --- the session: ID and refresh tokens in this tab's sessionStorage ---------------------
  let session = null;
  try { session = JSON.parse(sessionStorage.getItem(KEY)); } catch (e) { session = null; }
  let flash = null;
  // Bumped at every sign-in and sign-out: an answer (a refresh's, the API's) for an
  // earlier session is dropped, never saved over what came after it.
  let epoch = 0;
  function save(next) {
    session = next;
    if (next) sessionStorage.setItem(KEY, JSON.stringify(next)); else sessionStorage.removeItem(KEY);
  }
  function begin(next) {
    epoch += 1;
    // The next person's list starts unfiltered on its first page: never on another's
    // filter, nor with a next_token the API gave another (a 400 for them).
    Object.assign(listing, unfiltered());
    save(next);
  }
  function claims(jwt) {
    try {
      const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
    } catch (e) { return {}; }
  }
  function signOut(message) {
    begin(null);
    flash = message ? new Failure(message) : null;
    route();
  }

  async function cognito(action, body) {
    let answer;
    try {
      answer = await fetch(`${cfg.cognitoUrl}/`, {
        method: 'POST', credentials: 'omit', cache: 'no-store',
        headers: { 'Content-Type': 'application/x-amz-json-1.1',
          'X-Amz-Target': `AWSCognitoIdentityProviderService.${action}` },
        body: JSON.stringify({ ClientId: cfg.clientId, ...body }),
      });
    } catch (e) { throw new Failure(`Cognito cannot be reached at ${cfg.cognitoUrl}.`); }
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      const code = String(data.__type || '').split('#').pop();
      throw new Failure(data.message || data.Message || `Cognito answered ${answer.status}.`, 0, code);
    }
    return data;
  }

  // One refresh at a time for the session it started in: if that session ended meanwhile
  // (Sign out, someone else signed in), its answer is dropped and it reports failure.
  let refreshing = null;
  function refreshTokens() {
    if (!refreshing || refreshing.epoch !== epoch) {
      const started = epoch;
      const from = session;
      const promise = (async () => {
        try {
          const a = await cognito('InitiateAuth', { AuthFlow: 'REFRESH_TOKEN_AUTH',
            AuthParameters: { REFRESH_TOKEN: from.refresh } });
          if (started !== epoch) return false;
          save({ ...session, id: a.AuthenticationResult.IdToken });
          return true;
        } catch (e) {
          // Only Cognito's refusal ends the session (the token, the user or the app client
          // unknown: a local stack started again); unreachable, throttled or failing, it is
          // a failure to show (the refresh token may be good: the next call tries again).
          if (['NotAuthorizedException', 'ResourceNotFoundException', 'UserNotFoundException'].includes(e.code)) return false;
          throw e;
        } finally {
          setTimeout(() => { if (refreshing && refreshing.promise === promise) refreshing = null; });
        }
      })();
      refreshing = { epoch: started, promise };
    }
    return refreshing.promise;
  }

  // --- the API --------------------------------------------------------------------------------
  let calm = 0;
  // After each wait the session is checked again: one that ended meanwhile (Sign out, or
  // another person's sign-in) is neither used nor signed out a second time.
  async function api(method, path, body, headers) {
    if (!session) throw new Failure('Not signed in.', 401, SIGNED_OUT);
    const started = epoch;
    const ended = () => started !== epoch;
    const gone = () => new Failure('Signed out.', 401, SIGNED_OUT);
    const exp = Number(claims(session.id).exp || 0);
    if (exp && exp * 1000 < Date.now() + 30000) {
      const renewed = await refreshTokens();
      if (ended()) throw gone();
      if (!renewed) {
        signOut('Your session has expired: sign in again.');
        throw gone();
      }
    }
    const send = async () => {
      try {
        return await fetch(API + path, {
          method, credentials: 'omit', cache: 'no-store',
          headers: { Authorization: `Bearer ${session.id}`,
            ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) { throw new Failure('The API cannot be reached: check the connection and try again.'); }
    };
    let answer = await send();
    if (ended()) throw gone();
    if (answer.status === 401 && session.refresh) {
      const renewed = await refreshTokens();
      if (ended()) throw gone();
      if (renewed) answer = await send();
      if (ended()) throw gone();
    }
    const data = await answer.json().catch(() => null);
    if (ended()) throw gone();
    // The app's errors say `Message`; those API Gateway answers itself (a 504, a throttle's
    // 429, a 413, a 403) `message`. Either is cut at 300 characters.
    const said = data && String(data.Message || data.message || '').slice(0, 300);
    if (answer.status === 401) {
      signOut(`${said || 'Your session has expired.'} Sign in again.`);
      throw gone();
    }
    if (!answer.ok) {
      const wait = answer.headers.get('Retry-After');
      // A 429 or 503 is the API (or API Gateway) under load: no poll asks again before
      // its Retry-After. A 409's is for the call it refused (a DELETE), not for reads.
      // Without one (API Gateway's own throttle sends none), 10 seconds.
      if (answer.status === 429 || answer.status === 503) calm = Date.now() + 1000 * (Number(wait) || 10);
      throw new Failure(said || `The API answered ${answer.status}.`, answer.status, (data && data.Code) || '', wait);
    }
    return data;
  }

  // --- small views ------------------------------------------------------------------------
  // `live`: a status that is still changing pulses (not a past step of the timeline).
  const badge = (status, live = true) => el('span', { class: `badge s-${status}${live && UNFINISHED.has(status) ? ' live' : ''}` },
    status.replace('_', ' ').toLowerCase());
  const cidrOf = (r) => r.cidr || (r.request && r.request.vpc && r.request.vpc.cidr) || '';
  const nameOf = (r) => (r.request && r.request.vpc && r.request.vpc.name) || 'unnamed';
  const prefix = (cidr) => Number(String(cidr || '').split('/')[1]);
  const addresses = (cidr) => 2 ** (32 - prefix(cidr));
  const detailHref = (id) => `#/requests/${encodeURIComponent(id)}`;
  // A record names a resource only while it exists: one it no longer names is still to
  // come, or (DELETED, or a rollback or teardown that deleted something) deleted.
  const missing = (r) => (r.status === 'DELETED' || [r.rollback, r.teardown].some((d) => d && d.deleted.length) ? 'deleted'
    : r.status === 'CANCELLED' || r.status === 'FAILED' ? 'never created' : 'not created yet');
  function age(iso) {
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (!Number.isFinite(s)) return '';
    if (s < 60) return `${Math.floor(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h`;
    return `${Math.floor(s / 86400)} d`;
  }
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
  function driftOf(r) {
    if (!Array.isArray(r.drift)) return el('span', { class: 'note' }, '—');
    if (!r.drift.length) return el('span', { class: 'note' }, 'none');
    return el('span', { class: 'drift', title: r.drift.map((d) => `${d.type} ${d.resource_id}: ${d.problem}`).join('\n') },
      `⚠ ${r.drift.length} change${r.drift.length > 1 ? 's' : ''}`);
  }

  // The time this console first saw each status of a request (each list row notes it). The
  // timeline shows them only for a record from before histories, which keeps just its
  // creation and its last change: a newer record's `history` has every step and its time.
  function seen(r) {
    let all = {};
    try { all = JSON.parse(sessionStorage.getItem(`${KEY}.seen`)) || {}; } catch (e) { all = {}; }
    const mine = all[r.request_id] || (all[r.request_id] = {});
    if (!mine[r.status]) {
      mine[r.status] = new Date().toISOString();
      sessionStorage.setItem(`${KEY}.seen`, JSON.stringify(all));
    }
    return mine;
  }

  // --- router ---------------------------------------------------------------------------------
  let generation = 0;
  let timers = [];
  // Calls fn every ms while the view of generation g is on screen (a view that registers
  // after its answer came back may already be gone: then nothing is registered).
  // A tick before the Retry-After of the API's last 429 or 503 (`calm`) asks nothing.
  function every(g, ms, fn) {
    if (g !== generation) return;
    let busy = false;
    const timer = setInterval(async () => {
      if (g !== generation) { clearInterval(timer); return; }
      if (busy || D.hidden || Date.now() < calm) return;
      busy = true;
      try { await fn(); } finally { busy = false; }
    }, ms);
    timers.push(timer);
  }
  // A view drawn again keeps the keyboard on the control of the same name or label (a
  // filter, Mine, a pager's button, Try again), once that is on screen. A disabled one
  // cannot hold it (← Newer on the first page, Older → on the last): the pager's other
  // button takes it.
  let focused = '';
  function refocus() {
    const n = focused && [...main.querySelectorAll('button,select')].find((b) => (b.name || b.textContent) === focused);
    if (n) { (n.disabled && n.parentNode.querySelector('button:enabled') || n).focus(); focused = ''; }
  }
  function route() {
    const a = D.activeElement;
    focused = main.contains(a) && a.matches('button,select') ? a.name || a.textContent : '';
    generation += 1;
    timers.forEach(clearInterval);
    timers = [];
    D.querySelectorAll('dialog').forEach((d) => d.remove());
    const [page, arg] = location.hash.replace(/^#\/?/, '').split('/');
    header(page);
    if (!session) return signInView();
    if (page === 'requests' && arg) {
      let id = '';
      try { id = decodeURIComponent(arg); } catch (e) { /* not valid percent-encoding: no id */ }
      // A link cut short or mangled, or an id "." or ".." (a dot segment, which the browser
      // would resolve: /vpcs/.. is /): a message, not a blank page nor a call to the wrong path.
      if (/^\.?\.?$/.test(id)) return fill(main, el('h1', {}, 'Request'), alertBox(new Failure(`No such request: ${arg} (a link cut short or mangled?)`)));
      return requestView(id);
    }
    if (page === 'new') return createView();
    if (page === 'pools') return poolsView();
    return listView();
  }
  function header(page) {
    const nav = D.getElementById('nav');
    const who = D.getElementById('who');
    nav.hidden = who.hidden = !session;
    nav.querySelectorAll('a').forEach((a) => a.classList.toggle('on', a.dataset.nav === (page || 'requests')));
    if (!session) return;
    const c = claims(session.id);
    const groups = c['cognito:groups'] || [];
    fill(who, el('span', {}, c['cognito:username'] || session.user || ''),
      groups.includes('admins') ? el('span', { class: 'badge' }, 'admin') : null,
      el('button', { type: 'button', onclick: () => signOut() }, 'Sign out'));
  }

  // --- sign in ------------------------------------------------------------------------------
  function signInView() {
    const slot = el('div');
    const local = /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(`${cfg.cognitoUrl}/`);
    const user = el('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
    const pass = el('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const go = el('button', { class: 'primary', type: 'submit' }, 'Sign in');
    const card = el('div', { class: 'card' });
    let form = el('form', { onsubmit: (e) => { e.preventDefault(); start(); } },
      el('label', { for: 'username' }, 'User name'), user,
      el('label', { for: 'password' }, 'Password'), pass, go);
    card.append(el('h1', {}, 'Sign in'), el('p', { class: 'sub' }, 'With your account in this deployment’s user pool.'), slot, form,
      local ? el('p', { class: 'note' }, 'Local stack: the users demo and admin; their passwords are in its stack.json (password, admin_password), in .local/ or the folder STATE= named at make run.') : null);
    fill(main, el('div', { class: 'signin' }, card));
    user.focus();
    if (!cfg.clientId) showAlert(slot, new Failure('This console is not set up: its stage has no USER_POOL_CLIENT_ID (docs/console.md).'));
    else if (flash) showAlert(slot, flash);
    flash = null;

    async function start() {
      go.disabled = true;
      try {
        const a = await cognito('InitiateAuth', { AuthFlow: 'USER_PASSWORD_AUTH',
          AuthParameters: { USERNAME: user.value.trim(), PASSWORD: pass.value } });
        await finish(a);
      // The button disabled meanwhile lost the keyboard: the password takes it, to type again.
      } catch (f) { showAlert(slot, f); pass.focus(); pass.select(); } finally { go.disabled = false; }
    }
    async function finish(a) {
      if (a.AuthenticationResult) {
        begin({ id: a.AuthenticationResult.IdToken, refresh: a.AuthenticationResult.RefreshToken, user: user.value.trim() });
        clearAlerts();
        route();
        return;
      }
      const name = (a.ChallengeParameters && a.ChallengeParameters.USER_ID_FOR_SRP) || user.value.trim();
      const asks = { SOFTWARE_TOKEN_MFA: ['SOFTWARE_TOKEN_MFA_CODE', 'The 6-digit code of your authenticator app', 'one-time-code', 'text'],
        NEW_PASSWORD_REQUIRED: ['NEW_PASSWORD', 'Choose a new password (this one was temporary)', 'new-password', 'password'] }[a.ChallengeName];
      if (!asks) {
        const setup = a.ChallengeName === 'MFA_SETUP' ? ': set up an authenticator app first with the AWS CLI (associate-software-token, docs/deploy.md), then sign in here' : '';
        throw new Failure(`Cognito asks for ${a.ChallengeName}, which the console cannot answer${setup}.`);
      }
      const answer = el('input', { id: 'answer', name: asks[0].toLowerCase(), autocomplete: asks[2], type: asks[3], required: true });
      const next = el('button', { class: 'primary', type: 'submit' }, 'Continue');
      const respond = async () => {
        next.disabled = true;
        try {
          await finish(await cognito('RespondToAuthChallenge', { ChallengeName: a.ChallengeName, Session: a.Session,
            ChallengeResponses: { USERNAME: name, [asks[0]]: answer.value.trim() } }));
        } catch (f) { showAlert(slot, f); answer.focus(); answer.select(); } finally { next.disabled = false; }
      };
      clearAlerts();
      const step = el('form', { onsubmit: (e) => { e.preventDefault(); respond(); } },
        el('label', { for: 'answer' }, asks[1]), answer, next);
      form.replaceWith(step);
      form = step;
      answer.focus();
    }
  }

  // --- the requests ---------------------------------------------------------------------------
  const unfiltered = () => ({ status: '', mine: false, drift: false, tokens: [null], page: 0 });
  const listing = { limit: 20, ...unfiltered() };

  function listView() {
    const g = generation;
    const slot = el('div');
    // One filter at a time: the API lists by one index per filter.
    const filter = (change) => { Object.assign(listing, unfiltered(), change); route(); };
    const toggle = (label, on, change) => el('button', { type: 'button', class: 'toggle', 'aria-pressed': String(on), onclick: () => filter(on ? {} : change) }, label);
    const status = el('select', { 'aria-label': 'Status', name: 'status', onchange: (e) => filter({ status: e.target.value }) },
      el('option', { value: '' }, 'Any status'), STATUSES.map((s) => el('option', { value: s, selected: listing.status === s }, s)));
    const size = el('select', { 'aria-label': 'Requests per page', name: 'limit',
      onchange: (e) => { Object.assign(listing, { limit: Number(e.target.value), tokens: [null], page: 0 }); route(); } },
    [10, 20, 50].map((n) => el('option', { value: n, selected: listing.limit === n }, `${n} per page`)));
    const tbody = el('tbody');
    const pager = el('div', { class: 'pager' });
    fill(main,
      el('div', { class: 'head' }, el('div', { class: 'grow' }, el('h1', {}, 'Requests'),
        el('p', { class: 'sub' }, 'Newest first. Unfinished ones refresh by themselves.')),
      el('a', { class: 'btn primary', href: '#/new' }, 'New request')),
      el('div', { class: 'card' },
        el('div', { class: 'toolbar' }, status, toggle('Mine', listing.mine, { mine: true }),
          toggle('Drifted', listing.drift, { drift: true }), el('span', { class: 'grow' }), size),
        slot,
        el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, ['Request', 'Status', 'Creator', 'CIDR', 'Subnets', 'Age', 'Drift'].map((h) => el('th', {}, h)))), tbody)),
        pager));
    const query = new URLSearchParams({ limit: String(listing.limit) });
    if (listing.status) query.set('status', listing.status);
    if (listing.mine) query.set('created_by', 'me');
    if (listing.drift) query.set('drift', 'true');
    if (listing.tokens[listing.page]) query.set('next_token', listing.tokens[listing.page]);
    tbody.append(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'Loading…')));
    api('GET', `/vpcs?${query}`).then((data) => {
      if (g !== generation) return;
      fill(tbody, ...data.items.map(row));
      if (!data.items.length) {
        tbody.append(el('tr', {}, el('td', { colspan: 7, class: 'empty' },
          listing.page ? 'No more requests.' : 'No requests here yet. ', listing.page ? null : el('a', { href: '#/new' }, 'Create one.'))));
      }
      listing.tokens[listing.page + 1] = data.next_token;
      const move = (by) => { listing.page += by; route(); };
      fill(pager, el('span', { class: 'note' }, `Page ${listing.page + 1}`),
        el('button', { type: 'button', disabled: listing.page === 0, onclick: () => move(-1) }, '← Newer'),
        el('button', { type: 'button', disabled: !data.next_token, onclick: () => move(1) }, 'Older →'));
      refocus();
      every(g, POLL_MS, () => refreshRows(tbody, g));
    }, (f) => { if (g === generation) { fill(tbody); showAlert(slot, f, null, route); refocus(); } });
    refocus();
  }

  // A row keeps the record it shows (`json`): a refresh replaces it only when that changed.
  function row(r) {
    seen(r);
    return Object.assign(el('tr', { 'data-request-id': r.request_id, 'data-status': r.status, onclick: (e) => { if (!e.target.closest('a')) location.hash = detailHref(r.request_id); } },
      el('td', { class: 'name' }, el('a', { href: detailHref(r.request_id) }, nameOf(r)), el('div', { class: 'note mono' }, r.request_id.slice(0, 8))),
      el('td', {}, badge(r.status)),
      el('td', {}, r.created_by_username || r.created_by),
      el('td', { class: 'mono' }, cidrOf(r)),
      el('td', {}, String(r.subnets.length)),
      el('td', { title: when(r.created_at), 'data-age': r.created_at }, age(r.created_at)),
      el('td', {}, driftOf(r))), { json: JSON.stringify(r) });
  }

  const read = new Map();
  async function refreshRows(tbody, g) {
    tbody.querySelectorAll('[data-age]').forEach((td) => { td.textContent = age(td.dataset.age); });
    // At most a few reads per tick, the longest-unread first: a page of 50 queued requests
    // must not become 25 API calls a second.
    const open = [...tbody.querySelectorAll('tr[data-request-id]')].filter((tr) => UNFINISHED.has(tr.dataset.status))
      .sort((a, b) => (read.get(a.dataset.requestId) || 0) - (read.get(b.dataset.requestId) || 0)).slice(0, 5);
    await Promise.all(open.map(async (tr) => {
      read.set(tr.dataset.requestId, Date.now());
      try {
        const r = await api('GET', `/vpcs/${encodeURIComponent(tr.dataset.requestId)}`);
        // Replaced only when its record changed (the keyboard stays on its link), and then
        // the new row's link keeps the focus the old one had.
        if (g === generation && tr.isConnected && tr.json !== JSON.stringify(r)) {
          const n = row(r);
          const had = tr.contains(D.activeElement);
          tr.replaceWith(n);
          if (had) n.querySelector('a').focus();
        }
      } catch (f) {
        // The next tick tries again; a sign-out has already shown the sign-in.
      }
    }));
  }

  // --- one request ----------------------------------------------------------------------------
  function requestView(id) {
    const g = generation;
    const slot = el('div');
    const title = el('h1', {}, 'Request');
    const status = el('span');
    const del = el('button', { type: 'button', class: 'danger', hidden: true }, 'Delete');
    const draw = el('div', { class: 'card' }, el('p', { class: 'note' }, 'Loading…'));
    const times = el('div', { class: 'card' });
    const facts = el('div', { class: 'card' });
    const cards = el('div', {}, draw, el('div', { class: 'grid' }, facts, times));
    fill(main,
      el('p', {}, el('a', { href: '#/requests' }, '← Requests')),
      el('div', { class: 'head' }, el('div', { class: 'grow' }, title, el('p', { class: 'sub mono' }, id)), status, del),
      slot, cards);
    let current = null;
    // Whether the last load's error is on show.
    let failed = false;
    del.onclick = () => confirmDelete(current, slot, load);
    async function load() {
      try {
        const r = await api('GET', `/vpcs/${encodeURIComponent(id)}`);
        if (g !== generation) return;
        // A message about the status it had (a 409) is stale once that status changed; a
        // load's error, once a load succeeded.
        if (failed || (current && current.status !== r.status)) fill(slot);
        // The record unchanged, nothing is drawn again: an opened <details> stays open.
        const same = JSON.stringify(r) === JSON.stringify(current);
        current = r;
        failed = false;
        cards.hidden = false;
        title.textContent = nameOf(r);
        fill(status, badge(r.status));
        del.hidden = r.status === 'DELETED' || r.status === 'CANCELLED';
        if (!same) {
          vpcDrawing(r, draw);
          fill(times, el('h2', {}, 'Timeline'), timeline(r));
          fill(facts, el('h2', {}, 'Record'), record(r));
        }
        return r;
      } catch (f) {
        if (g !== generation) return;
        // Nothing to show (a 404, say): the alert alone, no empty cards.
        if (!current) cards.hidden = true;
        failed = true;
        showAlert(slot, f, null, route);
      }
    }
    load().then(() => every(g, POLL_MS, async () => { if (current && UNFINISHED.has(current.status)) await load(); }));
  }

  function confirmDelete(r, slot, reload) {
    if (!r) return;
    // The subnets still there (a teardown may have deleted some).
    const left = r.subnets.filter((s) => s.subnet_id);
    const what = r.status === 'QUEUED' ? 'It has not started yet: it is cancelled and nothing is created.'
      : r.vpc_id ? `This tears down ${r.vpc_id}, its ${left.length} subnet${left.length === 1 ? '' : 's'}${r.internet_gateway_id ? ', its internet gateway and route table' : ''}: everything tagged with this request. It cannot be undone.`
        : 'Whatever is left of it in EC2 is removed.';
    const yes = el('button', { type: 'button', class: 'danger solid' }, 'Delete');
    const dialog = el('dialog', { 'aria-labelledby': 'confirm-title' },
      el('h2', { id: 'confirm-title' }, `Delete ${nameOf(r)}?`), el('p', {}, what),
      el('div', { class: 'actions' }, yes, el('button', { type: 'button', autofocus: true, onclick: () => dialog.close() }, 'Keep it')));
    dialog.addEventListener('close', () => dialog.remove());
    yes.onclick = async () => {
      dialog.close();
      try {
        await api('DELETE', `/vpcs/${encodeURIComponent(r.request_id)}`);
        clearAlerts();
        await reload();
      } catch (f) {
        // Its answer lost or refused, the DELETE may have landed: the record says. Its
        // error is shown unless it did (the status one a DELETE leads to; a poll may have
        // moved it otherwise while the dialog was open).
        const now = await reload();
        if (!now || !['DELETING', 'CANCELLED', 'DELETED'].includes(now.status)) showAlert(slot, f);
      }
    };
    D.body.append(dialog);
    dialog.showModal();
  }

  function record(r) {
    const rows = [
      ['VPC', r.vpc_id || missing(r)], ['CIDR', cidrOf(r)], ['Creator', r.created_by_username || r.created_by],
      ['Created', when(r.created_at)], ['Updated', when(r.updated_at)], ['Attempts', String(r.attempts)],
      ['Internet gateway', r.internet_gateway_id], ['Route table', r.route_table_id],
      ['Drift found', r.drift_detected_at ? when(r.drift_detected_at) : null],
    ].filter(([, v]) => v);
    const out = [];
    if (r.error) out.push(el('div', { class: 'problem' }, el('strong', {}, r.error.code), ' ', r.error.message));
    if (Array.isArray(r.drift) && r.drift.length) {
      out.push(el('div', { class: 'driftbox' }, el('strong', {}, 'EC2 no longer matches this record'),
        el('ul', {}, r.drift.map((d) => el('li', {}, `${d.type} ${d.resource_id}: ${d.problem}${d.detail ? ` (${d.detail})` : ''}`)))));
    }
    out.push(el('dl', {}, rows.map(([k, v]) => [el('dt', {}, k), el('dd', { class: /^(vpc|igw|rtb)-/.test(v) ? 'mono' : null }, v)])));
    for (const [label, report] of [['Rollback', r.rollback], ['Teardown', r.teardown]]) {
      if (report) out.push(el('p', { class: 'note' }, `${label}: deleted ${report.deleted.join(', ') || 'nothing'}${report.remaining.length ? `; left: ${report.remaining.join(', ')}` : ''}${report.error ? `; ${report.error}` : ''}`));
    }
    if (r.orphans && r.orphans.length) {
      out.push(el('p', { class: 'note' }, `Strays removed by the reconciler: ${r.orphans.map((o) => `${o.id}${o.removed_at ? '' : ' (not yet)'}`).join(', ')}`));
    }
    out.push(el('details', {}, el('summary', {}, 'The record as the API returns it'), el('pre', {}, JSON.stringify(r, null, 2))));
    return out;
  }

  // The statuses a request went through, each with its time: the record's `history`. Past 20
  // entries (models.HISTORY_LIMIT) it keeps the first and the latest 19; "…" marks the gap,
  // seen in a full history whose second entry is not the claim's IN_PROGRESS (an untrimmed
  // one's always is). A record from before histories keeps its creation and its last change;
  // the steps between follow from the lifecycle (docs/api.md), with the time this console
  // saw them where it did.
  function timeline(r) {
    let steps = (r.history || []).map((c) => [c.status, c.at, '']);
    if (!steps.length) {
      const made = r.rollback ? ['QUEUED', 'IN_PROGRESS', 'ROLLING_BACK', 'FAILED'] : ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED'];
      const saw = seen(r);
      steps = ({
        QUEUED: ['QUEUED'], IN_PROGRESS: ['QUEUED', 'IN_PROGRESS'], ROLLING_BACK: ['QUEUED', 'IN_PROGRESS', 'ROLLING_BACK'],
        SUCCEEDED: made, FAILED: made, CANCELLED: ['QUEUED', 'CANCELLED'],
        DELETING: [...made, 'DELETING'], DELETED: r.rollback ? [...made, 'DELETED'] : [...made, 'DELETING', 'DELETED'],
        DELETE_FAILED: [...made, 'DELETING', 'DELETE_FAILED'],
      }[r.status] || [r.status]).map((s, i, all) => {
        const between = i && i < all.length - 1;
        return [s, i === 0 ? r.created_at : between ? saw[s] : r.updated_at, between ? ' (seen)' : ''];
      });
    }
    return el('ol', { class: 'timeline' }, steps.map(([s, at, note], i) => {
      const last = i === steps.length - 1;
      return [i === 1 && steps.length >= 20 && s !== 'IN_PROGRESS' ? el('li', { class: 'gap' }, '…') : null,
        el('li', { class: last ? 'now' : null, 'data-status': s, 'data-at': at }, badge(s, last),
          el('span', { class: 'when' }, at ? when(at) + note : 'time not recorded'))];
    }));
  }

  // One column per Availability Zone, one block per subnet; a block's area is in the ratio
  // of its addresses across the drawing, none under MINH px (docs/console.md says how).
  // Labels go beneath a block too short for them. Public subnets green, under the gateway.
  // W units wide: the card's width at 1.14 CSS px a unit, or more where the zones need
  // columns of COL (room for a subnet id), never under 760 (the title beside the gateway).
  // Never shown under 0.9 px a unit (11.5-unit letters stay over 10 px): it scrolls sideways.
  function vpcDrawing(r, box) {
    const wanted = (r.request && r.request.subnets) || [];
    const subnets = r.subnets.map((s, i) => ({ ...s, public: Boolean(wanted[i] && wanted[i].public), size: addresses(s.cidr) }));
    const zones = [...new Set(subnets.map((s) => s.az || 'any zone'))].sort();
    const driftIds = new Set((Array.isArray(r.drift) ? r.drift : []).map((d) => d.resource_id));
    // The route table drifted (its route to the internet gone or elsewhere, made main):
    // the public subnets and the gateway are marked, and nothing is said to route.
    const rt = driftIds.has(r.route_table_id);
    const none = missing(r);
    const mark = none === 'not created yet' ? 'pending' : 'gone';
    const PAD = 18; const GAP = 14; const TOP = 44; const MINH = 4; const INSIDE = 58; const COL = 184;
    const W = Math.round(Math.max(760, 2 * PAD + zones.length * (COL + GAP) - GAP, (box.clientWidth - 40) / 1.14));
    const colW = (W - 2 * PAD - (zones.length - 1) * GAP) / zones.length;
    const columns = zones.map((z) => subnets.filter((s) => (s.az || 'any zone') === z)
      .sort((a, b) => ip(a.cidr) - ip(b.cidr)));
    // The column with the most addresses: 100 px per subnet of the longest column, at most 360.
    const scale = Math.min(360, 100 * Math.max(...columns.map((c) => c.length)))
      / Math.max(...columns.map((c) => c.reduce((n, s) => n + s.size, 0)));
    // A text and its shorter forms, the first that fits `room` shown once drawn; a name
    // (`cut`) ends in "…" where none fits. A subnet id or a number is never cut.
    const fits = [];
    const text = (attrs, forms, room, cut) => { const t = sv('text', attrs, forms[0]); fits.push([t, forms, room, cut]); return t; };
    let bottom = 0;
    const blocks = columns.flatMap((column, c) => {
      const x = PAD + c * (colW + GAP);
      let y = TOP + 36;
      return column.map((s) => {
        const h = Math.max(MINH, s.size * scale);
        const drifted = driftIds.has(s.subnet_id) || (s.public && rt);
        const n = s.size.toLocaleString();
        const lines = [[[s.name || (s.public ? 'public subnet' : 'subnet')], 'nm'], [[`${s.cidr}  ·  ${n} addresses`, `${s.cidr} · ${n}`], ''],
          [[s.subnet_id || none], ''], [s.public && (s.subnet_id ? r.internet_gateway_id && r.route_table_id && !rt : none === 'not created yet') ? ['↑ routes to the internet gateway', '↑ to the internet gateway'] : [], ''],
          [drifted ? ['⚠ drifted: EC2 differs'] : [], '']].filter(([t]) => t.length);
        const inside = h >= INSIDE;
        const shown = inside ? lines.slice(0, Math.floor((h - 10) / 16)) : lines.filter(([t]) => t[0][0] !== '↑');
        const block = { s, x, y, h, drifted, lines, inside, shown };
        y += h + (inside ? 8 : 24 + 16 * shown.length);
        bottom = Math.max(bottom, y);
        return block;
      });
    });
    const H = bottom + PAD - 8;
    const hasGateway = Boolean(r.internet_gateway_id) || subnets.some((s) => s.public);
    const svg = sv('svg', { class: 'vpc', viewBox: `0 0 ${W} ${H}`, width: Math.ceil(0.9 * W), 'data-vpc-id': r.vpc_id || '', role: 'img',
      'aria-label': `VPC ${r.vpc_id || `(${none})`}: ${subnets.length} subnets in ${zones.length} Availability Zones` });
    const GW = 340;
    svg.append(sv('rect', { class: 'frame', x: 1, y: TOP - 24, width: W - 2, height: H - TOP + 22, rx: 12 }),
      text({ class: 'title', x: PAD, y: TOP }, [`${r.vpc_id || `VPC (${none})`}  ·  ${cidrOf(r)}  ·  ${nameOf(r)}`],
        W - 2 * PAD - (hasGateway ? GW + 10 : 0), 1));
    if (hasGateway) {
      const gwClass = ['igw', r.internet_gateway_id ? '' : mark, driftIds.has(r.internet_gateway_id) || rt ? 'drifted' : ''].filter(Boolean).join(' ');
      svg.append(sv('g', { class: gwClass, 'data-internet-gateway-id': r.internet_gateway_id || '' },
        sv('title', {}, 'Internet gateway: the public subnets route 0.0.0.0/0 to it'),
        sv('rect', { x: W - PAD - GW, y: 4, width: GW, height: 30, rx: 8 }),
        sv('text', { x: W - PAD - GW + 12, y: 24 }, `⇅ Internet gateway ${r.internet_gateway_id || `(${none})`}`)));
    }
    zones.forEach((z, c) => svg.append(text({ class: 'az', x: PAD + c * (colW + GAP), y: TOP + 26 }, [z], colW, 1)));
    for (const { s, x, y, h, drifted, lines, inside, shown } of blocks) {
      const kinds = [s.public ? 'public' : '', s.subnet_id ? '' : mark, drifted ? 'drifted' : ''].filter(Boolean);
      svg.append(sv('g', { class: ['sn', ...kinds].join(' '), 'data-subnet-id': s.subnet_id || '', 'data-cidr': s.cidr },
        sv('title', {}, lines.map(([t]) => t[0]).join('\n')),
        sv('rect', { x, y, width: colW, height: h, rx: Math.min(7, h / 2) }),
        shown.map(([t, cls], i) => text({ class: [cls, inside ? '' : 'below'].filter(Boolean).join(' ') || null,
          x: x + (inside ? 10 : 2), y: y + (inside ? 19 : h + 15) + i * 16 }, t, colW - (inside ? 16 : 4), cls))));
    }
    // Redrawn (every 2 s while the request changes), it stays scrolled where it was.
    const wrap = el('div', { class: 'scroll' }, svg);
    const left = (box.querySelector('.scroll') || wrap).scrollLeft;
    fill(box, el('h2', {}, 'The VPC'), wrap, el('div', { class: 'legend' }, el('span', {}, 'private subnet'),
      el('span', { class: 'l-pub' }, 'public subnet'), el('span', { class: `l-${mark}` }, none), el('span', { class: 'l-drift' }, 'drifted'),
      el('em', {}, `Block areas are in the ratio of the address counts (none under ${MINH} px); a block too short for its labels has them beneath it.`)));
    wrap.scrollLeft = left;
    for (const [t, forms, room, cut] of fits) {
      forms.find((f) => { t.textContent = f; return t.getComputedTextLength() <= room; });
      while (cut && t.getComputedTextLength() > room && t.textContent.length > 2) t.textContent = `${t.textContent.slice(0, -2)}…`;
    }
  }
  function ip(cidr) {
    return String(cidr || '').split('/')[0].split('.').reduce((n, o) => n * 256 + Number(o), 0);
  }

  // --- create ------------------------------------------------------------------------------
  // "10.40.0.0/16" is a CIDR; "/16" or "16" a size, picked by the service from a pool.
  function cidrOrSize(text) {
    const t = text.trim();
    const size = /^\/?(\d{1,2})$/.exec(t);
    if (size) return { netmask_length: Number(size[1]) };
    return t ? { cidr: t } : {};
  }
  let attempt = { body: null, key: null };

  function createView() {
    const slot = el('div');
    const zones = el('datalist', { id: 'zones' }, 'abcdef'.split('').map((z) => el('option', { value: `${cfg.region}${z}` })));
    const vName = el('input', { id: 'vpc-name', name: 'vpc-name', placeholder: 'apps', maxlength: 128 });
    const vCidr = el('input', { id: 'vpc-cidr', name: 'vpc-cidr', placeholder: '10.40.0.0/16 or /16', autocomplete: 'off', spellcheck: 'false' });
    const pool = el('select', { id: 'vpc-pool', name: 'vpc-pool' }, el('option', { value: '' }, 'the first pool'));
    const rows = el('div');
    const preview = el('pre');
    const submit = el('button', { class: 'primary', type: 'submit' }, 'Create');
    const addRow = (cidr) => {
      const fields = {
        name: el('input', { name: 'subnet-name', placeholder: 'name (optional)', maxlength: 128, 'aria-label': 'Subnet name' }),
        cidr: el('input', { name: 'subnet-cidr', placeholder: '10.40.1.0/24 or /24', value: cidr || '', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Subnet CIDR or size' }),
        az: el('input', { name: 'subnet-az', placeholder: 'any zone', list: 'zones', autocomplete: 'off', 'aria-label': 'Availability Zone' }),
        public: el('input', { type: 'checkbox', name: 'subnet-public' }),
      };
      const line = el('div', { class: 'form-row', 'data-subnet-row': '' },
        el('div', {}, el('label', {}, 'Subnet name'), fields.name), el('div', {}, el('label', {}, 'CIDR or size'), fields.cidr),
        el('div', {}, el('label', {}, 'Availability Zone'), fields.az),
        el('label', { class: 'check' }, fields.public, 'public'),
        el('button', { type: 'button', 'aria-label': 'Remove this subnet', onclick: () => { line.remove(); show(); } }, '✕'));
      line.fields = fields;
      rows.append(line);
      show();
    };
    const body = () => {
      const vpc = { ...cidrOrSize(vCidr.value) };
      if (vpc.netmask_length !== undefined && pool.value) vpc.pool = pool.value;
      if (vName.value.trim()) vpc.name = vName.value.trim();
      return { vpc, subnets: [...rows.children].map(({ fields: f }) => ({ ...cidrOrSize(f.cidr.value),
        ...(f.az.value.trim() ? { az: f.az.value.trim() } : {}), ...(f.name.value.trim() ? { name: f.name.value.trim() } : {}),
        ...(f.public.checked ? { public: true } : {}) })) };
    };
    const show = () => { preview.textContent = JSON.stringify(body(), null, 2); };
    const form = el('form', { novalidate: true, oninput: show, onchange: show, onsubmit: (e) => { e.preventDefault(); send(); } },
      slot,
      el('h2', {}, 'VPC'),
      el('div', { class: 'form-vpc' }, el('div', {}, el('label', { for: 'vpc-name' }, 'Name'), vName),
        el('div', {}, el('label', { for: 'vpc-cidr' }, 'CIDR or size'), vCidr), el('div', {}, el('label', { for: 'vpc-pool' }, 'Pool (for a size)'), pool)),
      el('h2', {}, 'Subnets'), rows, zones,
      el('button', { type: 'button', onclick: () => addRow() }, '+ Add a subnet'),
      el('div', { class: 'actions' }, submit, el('a', { href: '#/requests' }, 'Cancel')),
      el('details', {}, el('summary', {}, 'The request body'), preview));
    fill(main, el('h1', {}, 'New request'),
      el('p', { class: 'sub' }, 'Give each network a CIDR, or a size (/16 to /28) for the service to pick a free block. Subnets without a zone are spread over the region’s zones.'),
      el('div', { class: 'card' }, form));
    addRow();
    api('GET', '/pools').then((data) => {
      pool.append(...data.items.map((p) => el('option', { value: p.name }, `${p.name} (${p.cidr})`)));
    }, (f) => { pool.disabled = true; showAlert(slot, f); });

    async function send() {
      form.querySelectorAll('[aria-invalid]').forEach((n) => { n.removeAttribute('aria-invalid'); n.removeAttribute('aria-describedby'); });
      const b = body();
      const text = JSON.stringify(b);
      // The same body again (a retry after a 503 or a 409 with Retry-After) keeps its key,
      // so it never makes a second VPC; any change is a new request. randomUUID is there in
      // every secure context, which the console's https and 127.0.0.1 are.
      if (text !== attempt.body) attempt = { body: text, key: crypto.randomUUID() };
      submit.disabled = true;
      try {
        const a = await api('POST', '/vpcs', b, { 'Idempotency-Key': attempt.key });
        attempt = { body: null, key: null };
        // The form left meanwhile, the person stays where they went (the list shows it).
        if (slot.isConnected) location.hash = detailHref(a.request_id);
      } catch (f) {
        if (f.status === 409) f.message = inFormTerms(f.message);
        showAlert(slot, f, 'create-error');
        const field = fieldOf(f, { vCidr, vName, pool }, [...rows.children].map((r) => r.fields));
        if (field) { field.setAttribute('aria-invalid', 'true'); field.setAttribute('aria-describedby', 'create-error'); }
        // The button disabled meanwhile lost the keyboard: the field named takes it, else the alert.
        if (slot.isConnected) (field || slot.firstChild || submit).focus();
      } finally { submit.disabled = false; }
    }
  }

  // A 409's advice (CidrConflict, PoolExhausted) in the form's terms, not the body's: 'Ask
  // for a size instead ("vpc": {"netmask_length": 16})' is to write /16 as the VPC's CIDR or size.
  const inFormTerms = (m) => m.replace(/\("vpc": \{"netmask_length": (\d+)\}\)/g, '(write /$1 as the VPC’s CIDR or size)')
    .replace(/\bvpc\.(cidr|netmask_length|pool)\b/g, (_, k) => ({ cidr: 'VPC CIDR', netmask_length: 'VPC size', pool: 'pool' })[k]);

  // The form field an API error names ("subnets[1].cidr ...", "vpc.name ..."), or the VPC's
  // CIDR for a conflict over address space. Only a 400 is about a field: a 429's advice
  // ("'vpcctl list --mine' lists yours") names none.
  function fieldOf(f, vpc, subnets) {
    if (['CidrConflict', 'PoolExhausted'].includes(f.code)) return vpc.vCidr;
    if (f.status !== 400) return null;
    // "subnets[0].az ...", or "subnets[0] is missing the required field(s) az".
    const sub = /\bsubnets\[(\d+)\](?:\.(\w+)|\D*?\b(az|name|public)\b)?/.exec(f.message);
    if (sub && subnets[Number(sub[1])]) {
      const s = subnets[Number(sub[1])];
      return { az: s.az, name: s.name, public: s.public }[sub[2] || sub[3]] || s.cidr;
    }
    const top = /\bvpc\b(?:\.(\w+)|\D*?\b(name|pool)\b)?/.exec(f.message);
    if (top) return { name: vpc.vName, pool: vpc.pool }[top[1] || top[2]] || vpc.vCidr;
    return null;
  }

  // --- pools --------------------------------------------------------------------------------
  function poolsView() {
    const g = generation;
    const slot = el('div');
    const list = el('div', { class: 'card' }, el('p', { class: 'note' }, 'Loading…'));
    fill(main, el('h1', {}, 'Address pools'),
      el('p', { class: 'sub' }, 'How much of each pool live requests hold, and the largest block still free.'), slot, list);
    api('GET', '/pools').then((data) => {
      if (g !== generation) return;
      fill(list, ...data.items.map(poolRow));
      if (!data.items.length) fill(list, el('p', { class: 'empty' }, 'No pools configured.'));
    }, (f) => { if (g === generation) { fill(list); showAlert(slot, f, null, route); } });
  }
  function poolRow(p) {
    const share = p.total_addresses ? p.allocated_addresses / p.total_addresses : 0;
    const pct = share * 100;
    // Rounded down: a pool with room left never reads 100%.
    const shown = pct === 0 ? '0' : pct < 0.01 ? '<0.01' : pct < 10 ? pct.toFixed(2).replace(/\.?0+$/, '') : String(Math.floor(pct));
    const count = Array.isArray(p.allocations) ? p.allocations.length : p.allocations;
    const largest = p.largest_free_netmask_length == null ? 'none: the pool is full' : `/${p.largest_free_netmask_length}`;
    return el('div', { class: 'pool', 'data-pool': p.name },
      el('div', {}, el('strong', {}, p.name), el('div', { class: 'mono note' }, p.cidr)),
      el('div', { class: 'bar-track', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct.toFixed(2),
        'aria-label': `${p.name}: ${shown}% allocated` },
      sv('svg', { viewBox: '0 0 1000 18', preserveAspectRatio: 'none' },
        sv('rect', { class: pct >= 100 ? 'full' : pct >= 80 ? 'high' : null, width: share ? Math.max(4, share * 1000) : 0, height: 18 }))),
      el('div', {}, el('div', {}, `${shown}% allocated`, el('span', { class: 'note' }, ` · ${Number(p.allocated_addresses).toLocaleString()} of ${Number(p.total_addresses).toLocaleString()} addresses`)),
        el('div', { class: 'note' }, `Largest free block: ${largest}${count == null ? '' : ` · ${count} allocation${count === 1 ? '' : 's'}`}`)));
  }

  addEventListener('hashchange', route);
  // A link to where the page already is (Requests after an error) draws it again.
  D.addEventListener('click', (e) => { const a = e.target.closest('a[href^="#"]'); if (a && a.hash === location.hash) route(); });
  route();
})();
