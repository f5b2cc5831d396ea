// Type declarations of wxauth.js, the mini-program client of ngx_http_wxauth_module.

/** The `error` codes of ngx_http_wxauth_module's JSON answers (see the README's Errors). */
export type ModuleErrorCode =
  | 'missing_session'
  | 'invalid_session'
  | 'session_expired'
  | 'store_unavailable'
  | 'invalid_request'
  | 'request_too_large'
  | 'method_not_allowed'
  | 'invalid_code'
  | 'user_blocked'
  | 'rate_limited'
  | 'wechat_unavailable'
  | 'wechat_timeout'
  | 'signature_mismatch'
  | 'decrypt_failed'
  | 'watermark_mismatch'
  | 'app_not_allowed'
  | 'internal_error';

/**
 * What a WxAuthError's `code` can be: a module error code; the `error` string of another JSON
 * error answer (your application's); `http_<status>` for an error answer without one;
 * `network_error` when wx.request failed; `wx_login_failed` when wx.login failed;
 * `invalid_login_answer` for a 200 login answer without a session.
 */
export type WxAuthErrorCode =
  | ModuleErrorCode
  | 'network_error'
  | 'wx_login_failed'
  | 'invalid_login_answer'
  | `http_${number}`
  | (string & {});

/** The session errors that make the client log in again and retry once. */
export const SESSION_ERRORS: ReadonlyArray<'missing_session' | 'invalid_session' | 'session_expired'>;

export class WxAuthError extends Error {
  constructor(code: WxAuthErrorCode, message?: string, details?: {
    statusCode?: number; wxErrcode?: number; data?: unknown; errMsg?: string;
  });
  name: 'WxAuthError';
  code: WxAuthErrorCode;
  /** The HTTP status; 0 when there was no answer (network_error, wx_login_failed). */
  statusCode: number;
  /** WeChat's errcode, when WeChat refused a login (invalid_code, user_blocked, ...). */
  wxErrcode?: number;
  /** The answer's body, parsed when it is JSON. */
  data?: unknown;
  /** The errMsg of a failed wx.request / wx.login. */
  errMsg?: string;
}

export type HttpMethod =
  | 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS' | 'TRACE' | 'CONNECT';

export interface RequestOptions {
  /** Absolute (http:// or https://) or relative to baseUrl. */
  url: string;
  method?: HttpMethod;
  data?: string | Record<string, any> | ArrayBuffer;
  header?: Record<string, string>;
  /** Milliseconds; defaults to the client's `timeout`. */
  timeout?: number;
  dataType?: 'json' | string;
  responseType?: 'text' | 'arraybuffer';
  enableHttp2?: boolean;
  enableCache?: boolean;
}

export interface Response<T = any> {
  statusCode: number;
  data: T;
  header: Record<string, string>;
  cookies?: string[];
}

/** The parts of WeChat's `wx` object the client uses (for tests and other runtimes). */
export interface WxLike {
  login(options: {
    success?: (res: { code: string; errMsg?: string }) => void;
    fail?: (err: { errMsg: string }) => void;
  }): void;
  checkSession(options: {
    success?: (res?: { errMsg: string }) => void;
    fail?: (err?: { errMsg: string }) => void;
  }): void;
  request(options: {
    url: string;
    method?: string;
    data?: unknown;
    header?: Record<string, string>;
    timeout?: number;
    dataType?: string;
    responseType?: string;
    success?: (res: Response) => void;
    fail?: (err: { errMsg: string }) => void;
  }): unknown;
  getStorageSync(key: string): any;
  setStorageSync(key: string, data: any): void;
  removeStorageSync(key: string): void;
}

export interface WxAuthOptions {
  /** Origin (and path prefix) of the nginx with the module, e.g. 'https://api.example.com'. */
  baseUrl: string;
  /** Default '/wx/login' (a wxauth_login location). */
  loginPath?: string;
  /** Default '/wx/logout' (a wxauth_logout location). */
  logoutPath?: string;
  /** Default '/wx/verify-signature' (a wxauth_verify_signature location). */
  verifySignaturePath?: string;
  /** Default '/wx/decrypt' (a wxauth_decrypt location). */
  decryptPath?: string;
  /** The request header that carries the token; default 'X-WX-Session' (see wxauth_token). */
  header?: string;
  /** The wx.setStorageSync key of the token; default 'wxauth_session'. */
  storageKey?: string;
  /** wx.request timeout in milliseconds (WeChat's default when absent). */
  timeout?: number;
  /** The wx object; default the global `wx`. */
  wx?: WxLike;
}

/** `wx.getUserInfo()`-style signed data, checked by wxauth_verify_signature. */
export interface SignedData {
  rawData: string;
  signature: string;
}

/** `encryptedData` and `iv` from WeChat's open-data APIs, decrypted by wxauth_decrypt. */
export interface EncryptedData {
  encryptedData: string;
  iv: string;
}

/**
 * The data itself, or a function that obtains it. A function is called after wx.checkSession
 * (and the login it may need), and again after a re-login: pass one when the data can be
 * fetched anew, so that it is always made with the session_key the server holds.
 */
export type UserDataInput<D> = D | (() => D | PromiseLike<D>);

export interface WxAuthClient {
  /**
   * wx.request with the session: logs in on demand, retries once after a re-login when the
   * session is gone. Resolves with answers below 400; rejects with a WxAuthError otherwise.
   */
  request<T = any>(options: RequestOptions): Promise<Response<T>>;
  /** Logs in now (wx.login, then the login location); concurrent calls share one login. */
  login(): Promise<string>;
  /** The current token, logging in first when there is none. */
  ensureSession(): Promise<string>;
  /** Ends the session on the server and forgets it; false when there was none (any more). */
  logout(): Promise<boolean>;
  /** wx.checkSession, a login if WeChat's session_key expired, then the signature check. */
  verifySignature(data: UserDataInput<SignedData>): Promise<{ valid: true }>;
  /** wx.checkSession, a login if WeChat's session_key expired, then the decryption. */
  decrypt<T = Record<string, any>>(data: UserDataInput<EncryptedData>): Promise<T & {
    watermark: { appid: string; timestamp: number };
  }>;
  /** The stored token, '' when there is none. */
  getSession(): string;
  /** Forgets the token locally (the server session stays until it expires). */
  clearSession(): void;
}

export function createClient(options: WxAuthOptions): WxAuthClient;
