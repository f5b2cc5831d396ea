// Compiled by util/test-client.sh with `tsc -p client` (noEmit): the declarations in
// wxauth.d.ts accept the documented uses and refuse wrong ones (@ts-expect-error fails the
// compilation when the line after it compiles).
import { createClient, WxAuthError, WxLike, SESSION_ERRORS, Response } from '../wxauth';

declare const wx: WxLike;

const api = createClient({ baseUrl: 'https://api.example.com', header: 'X-WX-Session', wx });

interface Profile { openid: string }

async function use(): Promise<void> {
  const res: Response<Profile> = await api.request<Profile>({ url: '/api/profile' });
  const openid: string = res.data.openid;
  await api.request({ url: '/api/orders', method: 'POST', data: { n: 1 }, timeout: 5000 });
  const token: string = await api.login();
  const ok: boolean = await api.logout();
  const sig: { valid: true } = await api.verifySignature({ rawData: '{}', signature: 'ab' });
  const data = await api.decrypt<{ phoneNumber: string }>(() => Promise.resolve({ encryptedData: 'x', iv: 'y' }));
  const phone: string = data.phoneNumber;
  const appid: string = data.watermark.appid;
  try {
    await api.ensureSession();
  } catch (e) {
    if (e instanceof WxAuthError && e.code === 'rate_limited') {
      const status: number = e.statusCode;
      const errcode: number | undefined = e.wxErrcode;
      void status; void errcode;
    }
  }
  const first: 'missing_session' | 'invalid_session' | 'session_expired' = SESSION_ERRORS[0];
  void openid; void token; void ok; void sig; void phone; void appid; void first;

  // @ts-expect-error a request needs a url
  await api.request({ method: 'GET' });
  // @ts-expect-error not an HTTP method
  await api.request({ url: '/x', method: 'FETCH' });
  // @ts-expect-error signed data needs a signature
  await api.verifySignature({ rawData: '{}' });
  // @ts-expect-error baseUrl is required
  createClient({ wx });
}
void use;
