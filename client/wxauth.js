/*
 * wxauth client for WeChat mini-programs: logs in through ngx_http_wxauth_module and sends the
 * session token with every request. Plain ES2015 (CommonJS), no build step; types in wxauth.d.ts.
 *
 *   const { createClient } = require('./wxauth');
 *   const api = createClient({ baseUrl: 'https://api.example.com' });
 *   api.request({ url: '/api/profile' }).then(res => console.log(res.data));
 *
 * - The first request logs in (wx.login, then POST {code} to the login location); the token is
 *   kept with wx.setStorageSync and sent in X-WX-Session (the `header` option).
 * - A 401 missing_session / invalid_session / session_expired logs in again and retries the
 *   request once. Requests that find the session gone at the same time share one login.
 * - Every other failure rejects with a WxAuthError whose `code` is the module's stable `error`
 *   (rate_limited, user_blocked, store_unavailable, ...). A login that WeChat or the server
 *   refused is not retried.
 * - verifySignature() and decrypt() call wx.checkSession first and log in again when WeChat's
 *   session_key has expired, so that the server holds the key the data was made with.
 */
'use strict';

var SESSION_ERRORS = ['missing_session', 'invalid_session', 'session_expired'];

var DEFAULTS = {
  baseUrl: '',
  loginPath: '/wx/login',
  logoutPath: '/wx/logout',
  verifySignaturePath: '/wx/verify-signature',
  decryptPath: '/wx/decrypt',
  header: 'X-WX-Session',
  storageKey: 'wxauth_session',
  timeout: undefined
};

/*
 * The error every promise of this module rejects with. A plain constructor rather than
 * `class extends Error`: WeChat's "ES6 to ES5" compilation breaks instanceof for the latter.
 */
function WxAuthError(code, message, details) {
  var error = new Error(message || code);
  Object.setPrototypeOf(error, WxAuthError.prototype);
  error.name = 'WxAuthError';
  error.code = code;
  error.statusCode = 0;
  if (details) {
    if (details.statusCode !== undefined) error.statusCode = details.statusCode;
    if (details.wxErrcode !== undefined) error.wxErrcode = details.wxErrcode;
    if (details.data !== undefined) error.data = details.data;
    if (details.errMsg !== undefined) error.errMsg = details.errMsg;
  }
  return error;
}
WxAuthError.prototype = Object.create(Error.prototype, {
  constructor: { value: WxAuthError, writable: true, configurable: true }
});

function parseBody(data) {
  if (typeof data === 'string') {
    try {
      return JSON.parse(data);
    } catch (e) {
      return data;
    }
  }
  return data;
}

function errorOf(res) {
  var body = parseBody(res.data);
  var known = body && typeof body === 'object' && typeof body.error === 'string';
  var details = { statusCode: res.statusCode, data: body };
  if (known && body.wx_errcode !== undefined) details.wxErrcode = body.wx_errcode;
  return new WxAuthError(known ? body.error : 'http_' + res.statusCode,
    known && typeof body.message === 'string' ? body.message : 'HTTP ' + res.statusCode,
    details);
}

function isSessionError(res) {
  if (res.statusCode !== 401) return false;
  var body = parseBody(res.data);
  return !!body && typeof body === 'object' && SESSION_ERRORS.indexOf(body.error) >= 0;
}

function createClient(options) {
  var opts = Object.assign({}, DEFAULTS, options || {});
  /* global wx */
  var wxApi = opts.wx || (typeof wx !== 'undefined' ? wx : null);
  if (!wxApi) throw new TypeError('wxauth: no wx object (pass options.wx)');
  if (typeof opts.baseUrl !== 'string') throw new TypeError('wxauth: baseUrl must be a string');

  var baseUrl = opts.baseUrl.replace(/\/+$/, '');
  var token = null;        // null: not read from storage yet
  var loginInFlight = null;

  function urlOf(url) {
    return /^https?:\/\//i.test(url) ? url : baseUrl + url;
  }

  function getSession() {
    if (token === null) {
      var stored;
      try {
        stored = wxApi.getStorageSync(opts.storageKey);
      } catch (e) {
        stored = '';
      }
      token = typeof stored === 'string' ? stored : '';
    }
    return token;
  }

  function setSession(value) {
    token = value;
    try {
      if (value) wxApi.setStorageSync(opts.storageKey, value);
      else wxApi.removeStorageSync(opts.storageKey);
    } catch (e) {
      /* storage full or unavailable: the token still lives in memory */
    }
  }

  function clearSession() {
    setSession('');
  }

  // wx.request as a promise; resolves with every HTTP answer, rejects on network failures
  function send(req) {
    return new Promise(function (resolve, reject) {
      var call = {
        url: urlOf(req.url),
        method: req.method || 'GET',
        header: req.header || {},
        success: function (res) {
          resolve(res);
        },
        fail: function (err) {
          var errMsg = err && err.errMsg ? err.errMsg : 'request:fail';
          reject(new WxAuthError('network_error', errMsg, { errMsg: errMsg }));
        }
      };
      ['data', 'dataType', 'responseType', 'enableHttp2', 'enableCache'].forEach(function (k) {
        if (req[k] !== undefined) call[k] = req[k];
      });
      var timeout = req.timeout !== undefined ? req.timeout : opts.timeout;
      if (timeout !== undefined) call.timeout = timeout;
      wxApi.request(call);
    });
  }

  function wxLogin() {
    return new Promise(function (resolve, reject) {
      wxApi.login({
        success: function (res) {
          if (res && res.code) resolve(res.code);
          else reject(new WxAuthError('wx_login_failed', 'wx.login gave no code', { errMsg: res && res.errMsg }));
        },
        fail: function (err) {
          var errMsg = err && err.errMsg ? err.errMsg : 'login:fail';
          reject(new WxAuthError('wx_login_failed', errMsg, { errMsg: errMsg }));
        }
      });
    });
  }

  function checkSession() {
    return new Promise(function (resolve) {
      wxApi.checkSession({
        success: function () {
          resolve(true);
        },
        fail: function () {
          resolve(false);
        }
      });
    });
  }

  function doLogin() {
    return wxLogin().then(function (code) {
      return send({
        url: opts.loginPath,
        method: 'POST',
        header: { 'Content-Type': 'application/json' },
        data: { code: code }
      });
    }).then(function (res) {
      var body = parseBody(res.data);
      if (res.statusCode === 200 && body && typeof body.session === 'string' && body.session) {
        setSession(body.session);
        return body.session;
      }
      throw res.statusCode === 200
        ? new WxAuthError('invalid_login_answer', 'the login answer carries no session',
          { statusCode: res.statusCode, data: body })
        : errorOf(res);
    });
  }

  // A new session now; callers that arrive while one login runs share it.
  function login() {
    if (!loginInFlight) {
      loginInFlight = doLogin().then(function (t) {
        loginInFlight = null;
        return t;
      }, function (err) {
        loginInFlight = null;
        throw err;
      });
    }
    return loginInFlight;
  }

  function ensureSession() {
    if (loginInFlight) return loginInFlight;
    var t = getSession();
    return t ? Promise.resolve(t) : login();
  }

  // The token `used` was refused: log in again, unless someone already did (this client, or
  // another one on the same storage key: the storage is read again).
  function renew(used) {
    if (loginInFlight) return loginInFlight;
    token = null;
    var current = getSession();
    if (current && current !== used) return Promise.resolve(current);
    return login();
  }

  function withToken(header, t) {
    var h = Object.assign({}, header || {});
    h[opts.header] = t;
    return h;
  }

  function settle(res) {
    if (res.statusCode >= 200 && res.statusCode < 400) return res;
    throw errorOf(res);
  }

  // Sends build()'s request with the session; on a session error logs in again, builds the
  // request again (user data may have to be fetched anew) and sends it once more.
  function authed(build) {
    return ensureSession().then(function (t) {
      return build().then(function (req) {
        return send(Object.assign({}, req, { header: withToken(req.header, t) })).then(function (res) {
          if (!isSessionError(res)) return settle(res);
          return renew(t).then(function (t2) {
            return build().then(function (req2) {
              return send(Object.assign({}, req2, { header: withToken(req2.header, t2) }));
            });
          }).then(settle);
        });
      });
    });
  }

  function request(req) {
    if (!req || typeof req.url !== 'string') {
      return Promise.reject(new TypeError('wxauth: request needs a url'));
    }
    return authed(function () {
      return Promise.resolve(req);
    });
  }

  function logout() {
    var t = getSession();
    var wait = loginInFlight ? loginInFlight.catch(function () { return ''; }) : Promise.resolve(t);
    return wait.then(function (current) {
      if (!current) return false;
      return send({ url: opts.logoutPath, method: 'POST', header: withToken({}, current) }).then(function (res) {
        if (getSession() === current) clearSession();
        if (res.statusCode === 200) return true;
        if (isSessionError(res)) return false;  // the session was already gone
        throw errorOf(res);
      });
    });
  }

  // Signature check and decryption: WeChat's session_key must be the one the server holds.
  function userData(path, input) {
    var produce = typeof input === 'function'
      ? function () { return Promise.resolve().then(input); }
      : function () { return Promise.resolve(input); };
    var build = function () {
      return produce().then(function (data) {
        if (!data || typeof data !== 'object') {
          throw new TypeError('wxauth: user data must be an object');
        }
        return {
          url: path,
          method: 'POST',
          header: { 'Content-Type': 'application/json' },
          data: data
        };
      });
    };
    return checkSession().then(function (valid) {
      return valid ? ensureSession() : login();
    }).then(function () {
      return authed(build);
    }).then(function (res) {
      return parseBody(res.data);
    });
  }

  return {
    request: request,
    login: login,
    ensureSession: ensureSession,
    logout: logout,
    verifySignature: function (input) {
      return userData(opts.verifySignaturePath, input);
    },
    decrypt: function (input) {
      return userData(opts.decryptPath, input);
    },
    getSession: getSession,
    clearSession: clearSession
  };
}

module.exports = {
  createClient: createClient,
  WxAuthError: WxAuthError,
  SESSION_ERRORS: SESSION_ERRORS
};
