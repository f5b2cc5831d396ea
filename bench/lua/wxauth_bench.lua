-- The `lua` case of bench/run.sh: the "OpenResty style" check people write today instead of the
-- module, run by Debian's own nginx with libnginx-mod-http-lua (access_by_lua_block). It reads
-- X-WX-Session, looks the session up in Redis under the key the module uses ("wxauth:s:" + hex
-- SHA-256 of the token) with one GET over a pooled cosocket, and passes the identity to the
-- upstream in request headers, or answers 401 itself, as node/auth.js does.
--
-- Debian packages neither lua-resty-redis nor lua-resty-string, so:
--   * the Redis GET below speaks RESP itself (one command, one reply, no pipelining);
--   * SHA-256 is OpenSSL's SHA256() called through LuaJIT's FFI (nginx is linked with libcrypto),
--     and the hex digest is nginx's ngx_hex_dump(): what resty.sha256 / resty.string do.
--
--   init_by_lua_block   { require("wxauth_bench").configure("127.0.0.1", 6379) }
--   access_by_lua_block { require("wxauth_bench").access() }

local ffi = require "ffi"
local cjson = require "cjson.safe"

local C = ffi.C
local ngx = ngx
local tcp = ngx.socket.tcp
local null = ngx.null

ffi.cdef [[
unsigned char *SHA256(const void *d, size_t n, unsigned char *md);
unsigned char *ngx_hex_dump(unsigned char *dst, const unsigned char *src, size_t len);
]]

local _M = {}

local host, port = "127.0.0.1", 6379
local prefix = "wxauth:"
local pool_size = 64        -- per worker; one connection per request in flight
local idle_ms = 60000
local timeout_ms = 1000

function _M.configure(h, p, pfx)
    host, port, prefix = h, p, pfx or prefix
end

local digest = ffi.new("unsigned char[32]")
local hex = ffi.new("unsigned char[64]")

local function session_key(token)
    C.SHA256(token, #token, digest)
    C.ngx_hex_dump(hex, digest, 32)
    return prefix .. "s:" .. ffi.string(hex, 64)
end

-- A minimal RESP GET on a pooled connection: the value, ngx.null on a miss, or nil and an error.
local function redis_get(key)
    local sock = tcp()
    sock:settimeouts(timeout_ms, timeout_ms, timeout_ms)
    local ok, err = sock:connect(host, port, { pool_size = pool_size })
    if not ok then
        return nil, "connect: " .. err
    end
    ok, err = sock:send({ "*2\r\n$3\r\nGET\r\n$", #key, "\r\n", key, "\r\n" })
    if not ok then
        sock:close()
        return nil, "send: " .. err
    end
    local line
    line, err = sock:receive("*l")
    if not line then
        sock:close()
        return nil, "receive: " .. err
    end
    local kind, value = line:byte(1), nil
    if kind == 36 then                          -- "$<n>": a bulk string, "$-1": nil
        local n = tonumber(line:sub(2))
        if not n then
            sock:close()
            return nil, "bad reply: " .. line
        end
        if n < 0 then
            value = null
        else
            value, err = sock:receive(n + 2)    -- the value and its CRLF
            if not value then
                sock:close()
                return nil, "receive: " .. err
            end
            value = value:sub(1, n)
        end
    elseif kind == 45 then                      -- "-ERR ...": the connection stays usable
        sock:setkeepalive(idle_ms, pool_size)
        return nil, "redis: " .. line:sub(2)
    else
        sock:close()
        return nil, "unexpected reply: " .. line
    end
    sock:setkeepalive(idle_ms, pool_size)
    return value
end

local function deny(status, code)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.print('{"error":"', code, '"}')
    return ngx.exit(ngx.HTTP_OK)                -- ends the request with the status set above
end

local function str(v)
    return type(v) == "string" and v or ""
end

function _M.access()
    local token = ngx.var.http_x_wx_session
    if not token then
        return deny(401, "missing_session")
    end
    if #token ~= 43 or token:find("[^%w_%-]") then
        return deny(401, "invalid_session")
    end

    local text, err = redis_get(session_key(token))
    if not text then
        ngx.log(ngx.ERR, "wxauth_bench: redis: ", err)
        return deny(503, "store_unavailable")
    end
    if text == null then
        return deny(401, "session_expired")
    end
    local rec = cjson.decode(text)
    if type(rec) ~= "table" then
        return deny(401, "session_expired")
    end

    ngx.req.set_header("X-WX-OpenID", str(rec.openid))
    ngx.req.set_header("X-WX-UnionID", str(rec.unionid))
    ngx.req.set_header("X-WX-AppID", str(rec.appid))
end

return _M
