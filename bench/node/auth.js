// The auth_request comparison of bench/run.sh: what people deploy today instead of the module.
// nginx asks GET /auth with the client's X-WX-Session header; this service looks the session up
// in Redis exactly as ngx_http_wxauth_module does (key = prefix + "s:" + sha256 hex of the token)
// and answers 204 with the identity in response headers, or 401.
//
//   PORT=... REDIS_PORT=... [REDIS_HOST=127.0.0.1] [WXAUTH_PREFIX=wxauth:] node auth.js
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const { createClient } = require('redis');

const port = Number(process.env.PORT || 9000);
const prefix = process.env.WXAUTH_PREFIX || 'wxauth:';
const tokenRe = /^[A-Za-z0-9_-]{43}$/;

const redis = createClient({
  socket: {
    host: process.env.REDIS_HOST || '127.0.0.1',
    port: Number(process.env.REDIS_PORT || 6379),
  },
});
redis.on('error', (err) => console.error('redis:', err.message));

function deny(res, status, code) {
  const body = JSON.stringify({ error: code });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  const token = req.headers['x-wx-session'];
  if (!token) return deny(res, 401, 'missing_session');
  if (!tokenRe.test(token)) return deny(res, 401, 'invalid_session');

  const key = prefix + 's:' + crypto.createHash('sha256').update(token).digest('hex');
  let text;
  try {
    text = await redis.get(key);
  } catch (err) {
    return deny(res, 503, 'store_unavailable');
  }
  if (text === null) return deny(res, 401, 'session_expired');

  let rec;
  try {
    rec = JSON.parse(text);
  } catch (err) {
    return deny(res, 401, 'session_expired');
  }
  res.writeHead(204, {
    'X-WX-OpenID': rec.openid || '',
    'X-WX-UnionID': rec.unionid || '',
    'X-WX-AppID': rec.appid || '',
  });
  res.end();
});

server.keepAliveTimeout = 65000;

redis.connect().then(() => {
  server.listen(port, '127.0.0.1', () => console.error(`auth service on 127.0.0.1:${port}`));
}, (err) => {
  console.error('cannot connect to redis:', err.message);
  process.exit(1);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    redis.quit().finally(() => process.exit(0));
  });
}
