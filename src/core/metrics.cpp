#include "metrics.h"

namespace wxauth {

namespace {

// Upper bounds of the finite histogram buckets, in microseconds, and their `le` labels.
struct Bucket {
    std::uint64_t micros;
    const char *le;
};

constexpr Bucket latency_buckets[] = {
    {500, "0.0005"},    {1000, "0.001"},   {2500, "0.0025"}, {5000, "0.005"},
    {10000, "0.01"},    {25000, "0.025"},  {50000, "0.05"},  {100000, "0.1"},
    {250000, "0.25"},   {500000, "0.5"},   {1000000, "1"},
};

constexpr unsigned latency_bucket_count = sizeof(latency_buckets) / sizeof(latency_buckets[0]);

static_assert(static_cast<unsigned>(Metric::redis_latency_bucket_0) + latency_bucket_count
                      == static_cast<unsigned>(Metric::redis_latency_bucket_inf),
              "one slot per finite bucket, then the +Inf slot");

// One series of a labelled family: its slot and its label set (without the braces).
struct Series {
    Metric slot;
    const char *labels;
};

constexpr Series logins[] = {
    {Metric::login_ok, "outcome=\"ok\""},
    {Metric::login_invalid_request, "outcome=\"invalid_request\""},
    {Metric::login_method_not_allowed, "outcome=\"method_not_allowed\""},
    {Metric::login_invalid_code, "outcome=\"invalid_code\""},
    {Metric::login_user_blocked, "outcome=\"user_blocked\""},
    {Metric::login_rate_limited, "outcome=\"rate_limited\""},
    {Metric::login_wechat_unavailable, "outcome=\"wechat_unavailable\""},
    {Metric::login_wechat_timeout, "outcome=\"wechat_timeout\""},
    {Metric::login_store_unavailable, "outcome=\"store_unavailable\""},
    {Metric::login_request_too_large, "outcome=\"request_too_large\""},
    {Metric::login_internal_error, "outcome=\"internal_error\""},
};

constexpr Series checks[] = {
    {Metric::check_ok, "outcome=\"ok\""},
    {Metric::check_missing_session, "outcome=\"missing_session\""},
    {Metric::check_invalid_session, "outcome=\"invalid_session\""},
    {Metric::check_session_expired, "outcome=\"session_expired\""},
    {Metric::check_store_unavailable, "outcome=\"store_unavailable\""},
    {Metric::check_app_not_allowed, "outcome=\"app_not_allowed\""},
    {Metric::check_internal_error, "outcome=\"internal_error\""},
};

constexpr Series renewals[] = {
    {Metric::session_renewed, nullptr},
};

constexpr Series logouts[] = {
    {Metric::logout_ok, "outcome=\"ok\""},
    {Metric::logout_failed, "outcome=\"failed\""},
};

constexpr Series user_data[] = {
    {Metric::signature_ok, "handler=\"signature\",outcome=\"ok\""},
    {Metric::signature_failed, "handler=\"signature\",outcome=\"failed\""},
    {Metric::decrypt_ok, "handler=\"decrypt\",outcome=\"ok\""},
    {Metric::decrypt_failed, "handler=\"decrypt\",outcome=\"failed\""},
};

constexpr Series wechat_answers[] = {
    {Metric::wx_errcode_0, "errcode=\"0\""},
    {Metric::wx_errcode_minus1, "errcode=\"-1\""},
    {Metric::wx_errcode_40029, "errcode=\"40029\""},
    {Metric::wx_errcode_40163, "errcode=\"40163\""},
    {Metric::wx_errcode_40226, "errcode=\"40226\""},
    {Metric::wx_errcode_45011, "errcode=\"45011\""},
    {Metric::wx_errcode_40013, "errcode=\"40013\""},
    {Metric::wx_errcode_40125, "errcode=\"40125\""},
    {Metric::wx_errcode_other, "errcode=\"other\""},
    {Metric::wx_bad_response, "errcode=\"unparsable\""},
    {Metric::wx_http_error, "errcode=\"http_error\""},
    {Metric::wx_timeout, "errcode=\"timeout\""},
};

constexpr Series redis_failovers[] = {
    {Metric::redis_failovers, nullptr},
};

constexpr Series redis_redirects[] = {
    {Metric::redis_redirects_moved, "kind=\"moved\""},
    {Metric::redis_redirects_ask, "kind=\"ask\""},
};

constexpr Series redis_slot_map_refreshes[] = {
    {Metric::redis_slot_map_refreshes, nullptr},
};

constexpr Series redis_errors[] = {
    {Metric::redis_errors, "kind=\"error\""},
    {Metric::redis_timeouts, "kind=\"timeout\""},
};

std::uint64_t value_of(const std::uint64_t *values, Metric m) noexcept
{
    return values[static_cast<unsigned>(m)];
}

void header(std::string &out, const char *name, const char *type, const char *help)
{
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample(std::string &out, const char *name, const char *labels, std::uint64_t value)
{
    out += name;
    if (labels != nullptr) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += std::to_string(value);
    out += '\n';
}

template <std::size_t N>
void counter_family(std::string &out, const char *name, const char *help,
                    const Series (&series)[N], const std::uint64_t *values)
{
    header(out, name, "counter", help);
    for (const Series &s : series) {
        sample(out, name, s.labels, value_of(values, s.slot));
    }
}

// Microseconds as seconds, exactly: "0", "1.5", "0.000001" (no exponent, no rounding).
std::string micros_as_seconds(std::uint64_t micros)
{
    std::string s = std::to_string(micros / 1000000);
    std::uint64_t frac = micros % 1000000;
    if (frac == 0) {
        return s;
    }
    std::string digits = std::to_string(frac);
    digits.insert(0, 6 - digits.size(), '0');
    digits.erase(digits.find_last_not_of('0') + 1);
    s += '.';
    s += digits;
    return s;
}

void latency_histogram(std::string &out, const std::uint64_t *values)
{
    static const char name[] = "wxauth_redis_command_duration_seconds";

    header(out, name, "histogram", "Duration of Redis command batches, in seconds.");

    const unsigned first = static_cast<unsigned>(Metric::redis_latency_bucket_0);
    std::uint64_t cumulative = 0;

    for (unsigned i = 0; i < latency_bucket_count; i++) {
        cumulative += values[first + i];
        out += name;
        out += "_bucket{le=\"";
        out += latency_buckets[i].le;
        out += "\"} ";
        out += std::to_string(cumulative);
        out += '\n';
    }

    // +Inf and _count both come from the buckets: the slots are updated one by one, without a
    // lock, so the count slot may lag behind a bucket a scrape has already seen
    cumulative += value_of(values, Metric::redis_latency_bucket_inf);

    out += name;
    out += "_bucket{le=\"+Inf\"} ";
    out += std::to_string(cumulative);
    out += '\n';

    out += name;
    out += "_sum ";
    out += micros_as_seconds(value_of(values, Metric::redis_latency_sum_us));
    out += '\n';

    out += name;
    out += "_count ";
    out += std::to_string(cumulative);
    out += '\n';
}

}  // namespace

Metric redis_latency_bucket(std::uint64_t micros) noexcept
{
    for (unsigned i = 0; i < latency_bucket_count; i++) {
        if (micros <= latency_buckets[i].micros) {
            return static_cast<Metric>(static_cast<unsigned>(Metric::redis_latency_bucket_0) + i);
        }
    }
    return Metric::redis_latency_bucket_inf;
}

std::string render_prometheus(const std::uint64_t *values)
{
    std::string out;
    out.reserve(6144);

    counter_family(out, "wxauth_logins_total", "Login requests by outcome.", logins, values);
    counter_family(out, "wxauth_session_checks_total", "Session checks by outcome.", checks,
                   values);
    counter_family(out, "wxauth_session_renewals_total", "Session lifetime renewals.", renewals,
                   values);
    counter_family(out, "wxauth_logouts_total", "Logout requests by outcome.", logouts, values);
    counter_family(out, "wxauth_user_data_total",
                   "Signature checks and decryptions of WeChat user data by outcome.", user_data,
                   values);
    counter_family(out, "wxauth_wechat_answers_total",
                   "Answers of the WeChat code2session endpoint by errcode.", wechat_answers,
                   values);
    counter_family(out, "wxauth_redis_errors_total", "Redis failures by kind.",
                   redis_errors, values);
    counter_family(out, "wxauth_redis_failovers_total",
                   "Failovers followed: a worker moved to a master Sentinel or Redis Cluster "
                   "promoted.",
                   redis_failovers, values);
    counter_family(out, "wxauth_redis_redirects_total",
                   "Redis Cluster redirects followed (MOVED, ASK).", redis_redirects, values);
    counter_family(out, "wxauth_redis_slot_map_refreshes_total",
                   "Redis Cluster slot maps read (CLUSTER SLOTS).", redis_slot_map_refreshes,
                   values);

    latency_histogram(out, values);

    // a gauge moved by increments and decrements from every worker: a negative value can only
    // be a transient artefact, never a number of connections
    auto connections = static_cast<std::int64_t>(value_of(values, Metric::redis_connections));
    header(out, "wxauth_redis_connections", "gauge", "Open connections to Redis, all workers.");
    sample(out, "wxauth_redis_connections", nullptr,
           connections < 0 ? 0 : static_cast<std::uint64_t>(connections));

    return out;
}

std::string escape_label_value(std::string_view v)
{
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string render_redis_nodes(const std::vector<RedisNodeInfo> &nodes)
{
    std::string out;
    if (nodes.empty()) {
        return out;
    }
    out += "# HELP wxauth_redis_node_info Redis nodes as the worker answering this scrape sees "
           "them: address, role, and whether it has a live connection to the node.\n";
    out += "# TYPE wxauth_redis_node_info gauge\n";
    for (const RedisNodeInfo &n : nodes) {
        out += "wxauth_redis_node_info{redis=\"" + escape_label_value(n.redis) +
               "\",address=\"" + escape_label_value(n.address) + "\",role=\"" +
               escape_label_value(n.role) + "\",connected=\"" + (n.connected ? "1" : "0") +
               "\"} 1\n";
    }
    return out;
}

}  // namespace wxauth
