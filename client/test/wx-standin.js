// A stand-in for the mini-program runtime's `wx` object, for Node: wx.request performs real
// HTTP; wx.login hands out codes that the WeChat stand-in of util/common.sh understands; the
// storage is a Map; wx.checkSession and wx.getUserInfo follow a WeChat session whose
// session_key the test can expire (WeChat then hands out its next key with the next login).
'use strict';

const http = require('node:http');
const https = require('node:https');
const crypto = require('node:crypto');

// The session_keys the WeChat stand-in hands out: the key of WeChat's signature example for a
// code "<user>.<n>", the key of WeChat's decryption example for "k2_<user>.<n>".
const SESSION_KEYS = ['HyVFkGl5F5OQWJZZaNzBBg==', 'tiihtNczf5v6AKRyjwEUhQ=='];

function httpRequest({ url, method = 'GET', header = {}, data, timeout, dataType = 'json' }, done) {
  const target = new URL(url);
  const headers = {};
  for (const [k, v] of Object.entries(header)) headers[k] = String(v);
  let body = null;
  if (data !== undefined && data !== null) {
    if (method === 'GET' || method === 'HEAD') {
      if (typeof data === 'object') {
        for (const [k, v] of Object.entries(data)) target.searchParams.set(k, String(v));
      }
    } else if (typeof data === 'string' || data instanceof ArrayBuffer) {
      body = Buffer.from(data);
    } else {
      body = Buffer.from(JSON.stringify(data));
      if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
        headers['Content-Type'] = 'application/json';
      }
    }
  }
  if (body) headers['Content-Length'] = String(body.length);
  const lib = target.protocol === 'https:' ? https : http;
  const req = lib.request(target, { method, headers, agent: false }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => {
      let payload = Buffer.concat(chunks).toString('utf8');
      if (dataType === 'json') {
        try {
          payload = JSON.parse(payload);
        } catch (e) {
          // wx.request hands over the text when it is not JSON
        }
      }
      done(null, { statusCode: res.statusCode, data: payload, header: res.headers, cookies: [] });
    });
    res.on('error', (e) => done(e));
  });
  req.on('error', (e) => done(e));
  if (timeout) req.setTimeout(timeout, () => req.destroy(new Error('timeout')));
  if (body) req.write(body);
  req.end();
}

function createWx({ user, loginError = null } = {}) {
  const storage = new Map();
  const state = {
    user,
    generation: 0,          // which session_key WeChat holds for this user
    weChatSessionValid: false,
    loginCalls: 0,
    checkSessionCalls: 0,
    requests: [],           // { method, url, header } of every wx.request
    // { match(options), wait: Promise }: answers of matching requests are handed over only
    // once `wait` settles (a slow network for one request)
    gate: null,
  };
  let codes = 0;

  const later = (fn) => setImmediate(fn);

  const wx = {
    state,
    storage,

    login({ success, fail } = {}) {
      state.loginCalls += 1;
      later(() => {
        if (loginError) {
          if (fail) fail({ errMsg: `login:fail ${loginError}` });
          return;
        }
        codes += 1;
        state.weChatSessionValid = true;
        const prefix = state.generation % 2 === 1 ? 'k2_' : '';
        if (success) success({ code: `${prefix}${state.user}.${codes}`, errMsg: 'login:ok' });
      });
    },

    checkSession({ success, fail } = {}) {
      state.checkSessionCalls += 1;
      later(() => {
        if (state.weChatSessionValid) {
          if (success) success({ errMsg: 'checkSession:ok' });
        } else if (fail) {
          fail({ errMsg: 'checkSession:fail session time out' });
        }
      });
    },

    request(options) {
      const { success, fail, complete } = options;
      state.requests.push({
        method: options.method || 'GET',
        url: options.url,
        header: Object.assign({}, options.header),
      });
      httpRequest(options, (err, res) => {
        if (err) {
          const r = { errMsg: `request:fail ${err.message}` };
          if (fail) fail(r);
          if (complete) complete(r);
          return;
        }
        res.errMsg = 'request:ok';
        const hold = state.gate && state.gate.match(options) ? state.gate.wait : Promise.resolve();
        hold.then(() => {
          if (success) success(res);
          if (complete) complete(res);
        });
      });
      return { abort() {} };
    },

    getStorageSync(key) {
      return storage.has(key) ? storage.get(key) : '';
    },
    setStorageSync(key, value) {
      storage.set(key, value);
    },
    removeStorageSync(key) {
      storage.delete(key);
    },

    // --- WeChat's side, for the tests ---------------------------------------------------

    // WeChat's session_key of this user ran out: checkSession fails until the next login,
    // which brings the next key.
    expireWeChatSession() {
      state.weChatSessionValid = false;
      state.generation += 1;
    },

    sessionKey() {
      return SESSION_KEYS[state.generation % 2];
    },

    // wx.getUserInfo as WeChat answers it: rawData signed, and the user info encrypted, with
    // the session_key WeChat holds now.
    getUserInfo({ success } = {}) {
      const key = wx.sessionKey();
      const userInfo = { nickName: `nick-${state.user}`, gender: 1, language: 'zh_CN' };
      const rawData = JSON.stringify(userInfo);
      const signature = crypto.createHash('sha1').update(rawData + key).digest('hex');
      const iv = crypto.randomBytes(16);
      const cipher = crypto.createCipheriv('aes-128-cbc', Buffer.from(key, 'base64'), iv);
      const plain = JSON.stringify(Object.assign({ openId: `oDemo_${state.user}` }, userInfo, {
        watermark: { appid: process.env.WXAUTH_CLIENT_TEST_APPID, timestamp: Math.floor(Date.now() / 1000) },
      }));
      const encryptedData = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]).toString('base64');
      later(() => success({
        userInfo, rawData, signature, encryptedData, iv: iv.toString('base64'), errMsg: 'getUserInfo:ok',
      }));
    },
  };
  return wx;
}

// Plain HTTP for the tests' own checks, beside the client.
function raw(options) {
  return new Promise((resolve, reject) => {
    httpRequest(options, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

module.exports = { createWx, raw, SESSION_KEYS };
