// The client against the real thing: nginx with ngx_http_wxauth_module, Redis and the WeChat
// stand-in, started by util/test-client.sh, which passes their addresses:
//   WXAUTH_CLIENT_TEST_BASE        http://127.0.0.1:PORT (the front server)
//   WXAUTH_CLIENT_TEST_REDIS_PORT  the Redis the module uses
//   WXAUTH_CLIENT_TEST_APPID       the configured appid
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');

const { createClient, WxAuthError, SESSION_ERRORS } = require('../wxauth.js');
const { createWx, raw, SESSION_KEYS } = require('./wx-standin.js');

const BASE = process.env.WXAUTH_CLIENT_TEST_BASE;
const REDIS_PORT = process.env.WXAUTH_CLIENT_TEST_REDIS_PORT;
const APPID = process.env.WXAUTH_CLIENT_TEST_APPID;
if (!BASE || !REDIS_PORT || !APPID) {
  throw new Error('run through util/test-client.sh (WXAUTH_CLIENT_TEST_* are not set)');
}

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

// WeChat's documented signature example (its session_key is SESSION_KEYS[0])
const DOC_RAW = '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}';
const DOC_SIG = '75e81ceda165f4ffa64f4068af58c64b8f54b88c';

let users = 0;
// a user of its own for each scenario (WeChat's session_key is per user)
function setup(name, clientOptions = {}, wxOptions = {}) {
  users += 1;
  const wx = createWx(Object.assign({ user: `${name}${process.pid}x${users}` }, wxOptions));
  const client = createClient(Object.assign({ baseUrl: BASE, wx }, clientOptions));
  return { wx, client, openid: `oDemo_${wx.state.user}` };
}

function redis(...args) {
  return execFileSync('redis-cli', ['-p', REDIS_PORT, ...args], { encoding: 'utf8' }).trim();
}

// what Redis holds for a token: wxauth:s:<sha256 hex of the token>
function dropSession(token) {
  const key = `wxauth:s:${crypto.createHash('sha256').update(token).digest('hex')}`;
  assert.equal(redis('DEL', key), '1', `session ${key} was in Redis`);
}

async function loginsOk() {
  const res = await raw({ url: `${BASE}/metrics`, dataType: 'text' });
  const m = /^wxauth_logins_total\{outcome="ok"\} (\d+)$/m.exec(res.data);
  assert.ok(m, 'wxauth_logins_total{outcome="ok"} in /metrics');
  return Number(m[1]);
}

function promisify(fn) {
  return () => new Promise((resolve, reject) => fn({ success: resolve, fail: reject }));
}

async function rejectsWith(promise, fields) {
  let error = null;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `rejected (expected ${fields.code})`);
  assert.ok(error instanceof WxAuthError, `a WxAuthError, got ${error}`);
  for (const [k, v] of Object.entries(fields)) assert.equal(error[k], v, `error.${k}`);
  return error;
}

test('logs in on demand, keeps the token in storage and sends it in X-WX-Session', async () => {
  const { wx, client, openid } = setup('alice');
  assert.equal(client.getSession(), '');

  const res = await client.request({ url: '/api/profile' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.data.openid, openid);
  assert.equal(res.data.appid, APPID);
  assert.equal(res.data.token_seen, '', 'the upstream never sees the token');
  assert.equal(wx.state.loginCalls, 1);

  const token = wx.storage.get('wxauth_session');
  assert.match(token, TOKEN_RE);
  assert.equal(client.getSession(), token);
  const login = wx.state.requests[0];
  assert.equal(login.method, 'POST');
  assert.equal(login.url, `${BASE}/wx/login`);
  const api = wx.state.requests[1];
  assert.equal(api.header['X-WX-Session'], token);

  // the next request, and a new client on the same storage (the app restarted), reuse it
  await client.request({ url: '/api/orders', method: 'POST', data: { n: 1 } });
  const again = createClient({ baseUrl: BASE, wx });
  const res2 = await again.request({ url: '/api/profile' });
  assert.equal(res2.data.openid, openid);
  assert.equal(wx.state.loginCalls, 1);
  assert.equal(wx.state.requests.length, 4);
});

test('the header name and the storage key are configurable', async () => {
  const { wx, client, openid } = setup('bob', { header: 'X-Shop-Token', storageKey: 'shop.session' });
  const res = await client.request({ url: '/alt/profile' });
  assert.equal(res.data.openid, openid);
  assert.match(wx.state.requests[1].header['X-Shop-Token'], TOKEN_RE);
  assert.equal(wx.state.requests[1].header['X-WX-Session'], undefined);
  assert.match(wx.storage.get('shop.session'), TOKEN_RE);

  // the default header is not what /alt/ reads: one new login, one retry, then the error
  const other = setup('bob2');
  await rejectsWith(other.client.request({ url: '/alt/profile' }),
    { code: 'missing_session', statusCode: 401 });
  assert.equal(other.wx.state.loginCalls, 2);
});

test('an expired session logs in again and the request is retried transparently', async () => {
  const { wx, client, openid } = setup('carol');
  await client.request({ url: '/api/profile' });
  const first = client.getSession();
  dropSession(first);   // what expiry does: the record is gone from Redis

  const res = await client.request({ url: '/api/profile' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.data.openid, openid);
  assert.equal(wx.state.loginCalls, 2);
  const second = client.getSession();
  assert.match(second, TOKEN_RE);
  assert.notEqual(second, first);
  assert.equal(wx.storage.get('wxauth_session'), second);

  const old = await raw({ url: `${BASE}/api/profile`, header: { 'X-WX-Session': first } });
  assert.equal(old.statusCode, 401);
  assert.equal(old.data.error, 'session_expired');

  // another client on the same storage still holds the old token: it finds the new one in
  // the storage when refused, without a login of its own
  const sibling = createClient({ baseUrl: BASE, wx });
  assert.equal(sibling.getSession(), second);
  dropSession(second);
  await client.request({ url: '/api/profile' });
  assert.equal(wx.state.loginCalls, 3);
  const res4 = await sibling.request({ url: '/api/profile' });
  assert.equal(res4.data.openid, openid);
  assert.equal(wx.state.loginCalls, 3, 'the sibling reused the new token');
  assert.equal(sibling.getSession(), client.getSession());

  // a damaged stored token (invalid_session) is replaced the same way
  const damaged = setup('carol-damaged');
  damaged.wx.storage.set('wxauth_session', 'not-a-token');
  const res3 = await damaged.client.request({ url: '/api/profile' });
  assert.equal(res3.data.openid, damaged.openid);
  assert.equal(damaged.wx.state.loginCalls, 1);
  assert.equal(damaged.wx.state.requests.length, 3, 'request, login, retry');
});

test('concurrent requests that find the session gone share a single login', async () => {
  const { wx, client, openid } = setup('dave');
  await client.request({ url: '/api/profile' });
  dropSession(client.getSession());

  const before = await loginsOk();
  const results = await Promise.all(Array.from({ length: 20 },
    (_, i) => client.request({ url: `/api/item/${i}` })));
  for (const res of results) assert.equal(res.data.openid, openid);
  assert.equal(wx.state.loginCalls, 2, 'one login for all twenty');
  assert.equal(await loginsOk() - before, 1, 'the server saw one login');

  const token = client.getSession();
  const retried = wx.state.requests.filter((r) => r.url.includes('/api/item/')
    && r.header['X-WX-Session'] === token);
  assert.equal(retried.length, 20, 'every request retried with the new token');

  // a refusal that arrives after the new login is done: retried with the new token, no login
  dropSession(client.getSession());
  let release;
  wx.state.gate = { match: (o) => o.url.endsWith('/api/slow'), wait: new Promise((r) => { release = r; }) };
  const slow = client.request({ url: '/api/slow' });
  await new Promise((r) => setTimeout(r, 50));   // its 401 is in, held back
  const quick = await client.request({ url: '/api/quick' });
  assert.equal(quick.data.openid, openid);
  assert.equal(wx.state.loginCalls, 3);
  release();
  assert.equal((await slow).data.uri, '/api/slow');
  assert.equal(wx.state.loginCalls, 3, 'the late refusal did not log in again');
  wx.state.gate = null;

  // the same with no token at all: the first requests of a fresh start
  const fresh = setup('dave-fresh');
  const before2 = await loginsOk();
  await Promise.all(Array.from({ length: 8 }, () => fresh.client.request({ url: '/api/profile' })));
  assert.equal(fresh.wx.state.loginCalls, 1);
  assert.equal(await loginsOk() - before2, 1);
});

test('logout ends the session on the server and forgets it', async () => {
  const { wx, client } = setup('erin');
  await client.request({ url: '/api/profile' });
  const token = client.getSession();

  assert.equal(await client.logout(), true);
  assert.equal(client.getSession(), '');
  assert.equal(wx.storage.has('wxauth_session'), false);
  const after = await raw({ url: `${BASE}/api/profile`, header: { 'X-WX-Session': token } });
  assert.equal(after.statusCode, 401);
  assert.equal(after.data.error, 'session_expired');

  const sent = wx.state.requests.length;
  assert.equal(await client.logout(), false, 'nothing to log out');
  assert.equal(wx.state.requests.length, sent, 'without asking the server');

  // a session that is already gone on the server: logged out all the same
  await client.request({ url: '/api/profile' });
  dropSession(client.getSession());
  assert.equal(await client.logout(), false);
  assert.equal(client.getSession(), '');
  assert.equal(wx.state.loginCalls, 2);
});

test('refused logins surface their error code and are not retried', async () => {
  const cases = [
    ['blocked', 'user_blocked', 403, 40226],
    ['ratelimit', 'rate_limited', 429, 45011],
    ['invalid', 'invalid_code', 401, 40029],
    ['busy', 'wechat_unavailable', 502, -1],
  ];
  for (const [name, code, statusCode, wxErrcode] of cases) {
    const wx = createWx({ user: name });
    const client = createClient({ baseUrl: BASE, wx });
    const all = await Promise.allSettled(Array.from({ length: 5 },
      () => client.request({ url: '/api/profile' })));
    for (const r of all) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof WxAuthError);
      assert.equal(r.reason.code, code);
      assert.equal(r.reason.statusCode, statusCode);
      assert.equal(r.reason.wxErrcode, wxErrcode);
    }
    assert.equal(wx.state.loginCalls, 1, `${code}: one login for five requests, not retried`);
    assert.equal(wx.state.requests.length, 1, `${code}: nothing but the login was sent`);
    assert.equal(client.getSession(), '');
  }

  const noWx = setup('frank', {}, { loginError: 'system busy' });
  await rejectsWith(noWx.client.request({ url: '/api/profile' }), { code: 'wx_login_failed', statusCode: 0 });
  assert.equal(noWx.wx.state.requests.length, 0);
});

test('server errors surface their code: store_unavailable, no new login', async () => {
  const { wx, client } = setup('gina');
  await client.request({ url: '/api/profile' });
  redis('CLIENT', 'PAUSE', '1500', 'ALL');
  try {
    await rejectsWith(client.request({ url: '/api/profile' }), { code: 'store_unavailable', statusCode: 503 });
  } finally {
    redis('CLIENT', 'UNPAUSE');
  }
  assert.equal(wx.state.loginCalls, 1);

  // back to normal once Redis answers again (the module reconnects with a backoff)
  let res = null;
  for (let i = 0; i < 40 && !res; i += 1) {
    try {
      res = await client.request({ url: '/api/profile' });
    } catch (e) {
      assert.equal(e.code, 'store_unavailable');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(res, 'requests work again');
  assert.equal(wx.state.loginCalls, 1);

  // an answer of the application that is an error is not a session matter either
  await rejectsWith(client.request({ url: '/api/teapot' }), { code: 'teapot', statusCode: 418 });
  await rejectsWith(client.request({ url: '/api/plain-error' }), { code: 'http_500', statusCode: 500 });
  assert.equal(wx.state.loginCalls, 1);

  // no server at all
  const offline = createClient({ baseUrl: 'http://127.0.0.1:1', wx });
  await rejectsWith(offline.request({ url: '/api/profile' }), { code: 'network_error', statusCode: 0 });
});

test('verifySignature: wx.checkSession first, a new login when WeChat renewed the session_key', async () => {
  const { wx, client } = setup('hana');
  // WeChat's documented example, made with the key the stand-in hands out first
  assert.deepEqual(await client.verifySignature({ rawData: DOC_RAW, signature: DOC_SIG }), { valid: true });
  assert.equal(wx.state.checkSessionCalls, 1);
  assert.equal(wx.state.loginCalls, 1, 'logged in on demand');
  assert.equal(wx.sessionKey(), SESSION_KEYS[0]);

  await rejectsWith(client.verifySignature({ rawData: DOC_RAW, signature: '0'.repeat(40) }),
    { code: 'signature_mismatch', statusCode: 400 });
  assert.equal(wx.state.loginCalls, 1);

  // WeChat's session_key runs out; data made now is signed with the next key ...
  wx.expireWeChatSession();
  const getUserInfo = promisify(wx.getUserInfo);
  const info = await getUserInfo();
  // ... which the server does not hold yet: without the checkSession step this fails
  const stale = await raw({
    url: `${BASE}/wx/verify-signature`, method: 'POST',
    header: { 'X-WX-Session': client.getSession() },
    data: { rawData: info.rawData, signature: info.signature },
  });
  assert.equal(stale.statusCode, 400);
  assert.equal(stale.data.error, 'signature_mismatch');

  const before = wx.state.loginCalls;
  let fetched = 0;
  const result = await client.verifySignature(() => {
    fetched += 1;
    return getUserInfo().then((d) => ({ rawData: d.rawData, signature: d.signature }));
  });
  assert.deepEqual(result, { valid: true });
  assert.equal(wx.state.loginCalls, before + 1, 'logged in again after checkSession failed');
  assert.equal(fetched, 1);
  assert.equal(wx.sessionKey(), SESSION_KEYS[1]);
});

test('decrypt: checkSession, re-login, and the data fetched again after a session error', async () => {
  const { wx, client, openid } = setup('ivan');
  const getUserInfo = promisify(wx.getUserInfo);
  const pick = (d) => ({ encryptedData: d.encryptedData, iv: d.iv });

  const data = await client.decrypt(() => getUserInfo().then(pick));
  assert.equal(data.openId, openid);
  assert.equal(data.watermark.appid, APPID);
  assert.equal(wx.state.loginCalls, 1);

  wx.expireWeChatSession();
  const stale = await raw({
    url: `${BASE}/wx/decrypt`, method: 'POST',
    header: { 'X-WX-Session': client.getSession() },
    data: pick(await getUserInfo()),
  });
  assert.equal(stale.statusCode, 400, 'the server still holds the old key');
  assert.equal(stale.data.error, 'decrypt_failed');

  const data2 = await client.decrypt(() => getUserInfo().then(pick));
  assert.equal(data2.openId, openid);
  assert.equal(data2.nickName, `nick-${wx.state.user}`);
  assert.equal(wx.state.loginCalls, 2);
  assert.equal(wx.state.checkSessionCalls, 2);

  // the server session ends (expiry): log in again, fetch the data again, retry once
  dropSession(client.getSession());
  let fetched = 0;
  const data3 = await client.decrypt(() => {
    fetched += 1;
    return getUserInfo().then(pick);
  });
  assert.equal(data3.openId, openid);
  assert.equal(fetched, 2);
  assert.equal(wx.state.loginCalls, 3);
});

test('the module exports what its declarations say', () => {
  assert.deepEqual(SESSION_ERRORS, ['missing_session', 'invalid_session', 'session_expired']);
  const e = new WxAuthError('rate_limited', 'slow down', { statusCode: 429, wxErrcode: 45011 });
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'WxAuthError');
  assert.equal(e.message, 'slow down');
  assert.equal(e.wxErrcode, 45011);
  assert.throws(() => createClient({ baseUrl: BASE }), /no wx object/);
});
