-- The load of util/test-scale.sh: wrk sends protected requests with valid session tokens and
-- reports what came back, for the script to check (nothing is asserted here).
--
--   WXAUTH_TOKENS=tokens.txt WXAUTH_REPORT=report.txt \
--       wrk -t1 -c32 -d12s -s util/test-scale-wrk.lua http://127.0.0.1:PORT/api/x
--
-- WXAUTH_TOKENS: a file with one session token per line; the requests take them in turn
-- (X-WX-Session). WXAUTH_REPORT: where done() writes, one fact per line:
--   requests N                    responses seen
--   status S N                    responses with status S
--   error S CODE N                non-2xx responses with status S and JSON "error" CODE
--                                 ("-" when the body has no "error")
--   first_error T / last_error T  wall-clock time (seconds since the epoch, microsecond
--                                 precision) of the first and the last non-2xx response
--   first_response T / last_response T
--   socket connect|read|write|timeout N   wrk's own socket errors

local ffi = require "ffi"
ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } wxauth_timeval;
int gettimeofday(wxauth_timeval *tv, void *tz);
]]
local tv = ffi.new("wxauth_timeval")
local function now()
    ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end

local threads = {}

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

-- per thread (each has its own Lua state): these globals are read back in done()
tokens = {}
next_token = 1
counts = {}
first_error, last_error, first_response, last_response = 0, 0, 0, 0

function init(args)
    local path = os.getenv("WXAUTH_TOKENS")
    local f = assert(io.open(path, "r"), "cannot read WXAUTH_TOKENS " .. tostring(path))
    for line in f:lines() do
        if #line > 0 then table.insert(tokens, line) end
    end
    f:close()
    assert(#tokens > 0, "no tokens in " .. path)
    next_token = (id or 0) % #tokens + 1
end

function request()
    local token = tokens[next_token]
    next_token = next_token % #tokens + 1
    return wrk.format("GET", "/api/scale", { ["X-WX-Session"] = token })
end

local function bump(key)
    counts[key] = (counts[key] or 0) + 1
end

function response(status, headers, body)
    local t = now()
    if first_response == 0 then first_response = t end
    last_response = t
    bump("requests")
    bump("status " .. status)
    if status < 200 or status > 299 then
        local code = body and body:match('"error"%s*:%s*"([^"]*)"') or "-"
        bump("error " .. status .. " " .. code)
        if first_error == 0 then first_error = t end
        last_error = t
    end
end

function done(summary, latency, requests)
    local total, firsts, lasts = {}, {}, {}
    local fe, le, fr, lr = 0, 0, 0, 0
    for _, thread in ipairs(threads) do
        for k, v in pairs(thread:get("counts") or {}) do
            total[k] = (total[k] or 0) + v
        end
        local t = thread:get("first_error")
        if t and t > 0 and (fe == 0 or t < fe) then fe = t end
        t = thread:get("last_error")
        if t and t > le then le = t end
        t = thread:get("first_response")
        if t and t > 0 and (fr == 0 or t < fr) then fr = t end
        t = thread:get("last_response")
        if t and t > lr then lr = t end
    end
    local out = assert(io.open(os.getenv("WXAUTH_REPORT"), "w"))
    for k, v in pairs(total) do
        out:write(string.format("%s %d\n", k, v))
    end
    out:write(string.format("first_error %.6f\nlast_error %.6f\n", fe, le))
    out:write(string.format("first_response %.6f\nlast_response %.6f\n", fr, lr))
    for _, k in ipairs({ "connect", "read", "write", "timeout" }) do
        out:write(string.format("socket %s %d\n", k, summary.errors[k]))
    end
    out:close()
end
