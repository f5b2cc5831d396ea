#include <cstdint>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "metrics.h"

using namespace wxauth;

namespace {

// ---------------------------------------------------------------------------------------------
// A small, strict checker of the Prometheus text exposition format 0.0.4, as far as this module
// uses it: no timestamps, no blank lines, no comments other than HELP and TYPE.
// ---------------------------------------------------------------------------------------------

struct Exposition {
    std::map<std::string, std::string> types;   // family -> counter|gauge|histogram|...
    std::map<std::string, std::string> series;  // "name{labels}" (as printed) -> value
    std::vector<std::string> order;             // the series in the order printed
};

bool is_metric_name(const std::string &s)
{
    static const std::regex re("[a-zA-Z_:][a-zA-Z0-9_:]*");
    return std::regex_match(s, re);
}

bool is_value(const std::string &s)
{
    static const std::regex re(
        "[-+]?(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?|Inf)|NaN");
    return std::regex_match(s, re);
}

double le_value(const std::string &le)
{
    if (le == "+Inf") {
        return std::numeric_limits<double>::infinity();
    }
    return std::stod(le);
}

// Parses `a="x",b="y"` into out; false on any syntax error or a repeated label.
bool parse_labels(const std::string &text, std::map<std::string, std::string> &out)
{
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t eq = text.find('=', i);
        if (eq == std::string::npos) {
            return false;
        }
        std::string name = text.substr(i, eq - i);
        static const std::regex label_re("[a-zA-Z_][a-zA-Z0-9_]*");
        if (!std::regex_match(name, label_re) || name.rfind("__", 0) == 0) {
            return false;
        }
        i = eq + 1;
        if (i >= text.size() || text[i] != '"') {
            return false;
        }
        i++;
        std::string value;
        for (;;) {
            if (i >= text.size() || text[i] == '\n') {
                return false;
            }
            char c = text[i++];
            if (c == '"') {
                break;
            }
            if (c == '\\') {
                if (i >= text.size()) {
                    return false;
                }
                char e = text[i++];
                if (e == 'n') {
                    value += '\n';
                } else if (e == '\\' || e == '"') {
                    value += e;
                } else {
                    return false;
                }
                continue;
            }
            value += c;
        }
        if (!out.emplace(name, value).second) {
            return false;
        }
        if (i == text.size()) {
            break;
        }
        if (text[i] != ',') {
            return false;
        }
        i++;
    }
    return true;
}

// Empty when `text` is a valid exposition (then fills *exp), else what is wrong and where.
std::string check_exposition(const std::string &text, Exposition *exp)
{
    if (text.empty() || text.back() != '\n') {
        return "the text must end with a newline";
    }
    if (text.find('\r') != std::string::npos) {
        return "carriage return in the text";
    }

    Exposition e;
    std::set<std::string> closed;  // families whose samples are over
    std::set<std::string> helped;
    std::string current;           // the family of the last HELP/TYPE
    bool current_typed = false;

    struct Bucket {
        double le;
        double value;
    };
    std::map<std::string, std::vector<Bucket>> buckets;
    std::map<std::string, std::string> hist_count;
    std::map<std::string, int> hist_sum_seen;
    std::map<std::string, int> samples_of;

    std::istringstream in(text);
    std::string line;
    int n = 0;

    while (std::getline(in, line)) {
        n++;
        std::string where = "line " + std::to_string(n) + " `" + line + "`: ";

        if (line.empty()) {
            return where + "blank line";
        }

        if (line[0] == '#') {
            static const std::regex help_re("# HELP ([^ ]+) (.*)");
            static const std::regex type_re("# TYPE ([^ ]+) (counter|gauge|histogram|summary|untyped)");
            std::smatch m;
            if (std::regex_match(line, m, help_re)) {
                std::string name = m[1];
                if (!is_metric_name(name)) {
                    return where + "bad metric name";
                }
                if (helped.count(name) || closed.count(name)) {
                    return where + "second HELP for a family";
                }
                if (!current.empty()) {
                    closed.insert(current);
                }
                helped.insert(name);
                current = name;
                current_typed = false;
                continue;
            }
            if (std::regex_match(line, m, type_re)) {
                std::string name = m[1];
                if (name != current || !helped.count(name)) {
                    return where + "TYPE without the HELP of its family just before";
                }
                if (current_typed) {
                    return where + "second TYPE for a family";
                }
                if (m[2] == "counter" && (name.size() < 6 || name.substr(name.size() - 6) != "_total")) {
                    return where + "counter name without _total";
                }
                e.types[name] = m[2];
                current_typed = true;
                continue;
            }
            return where + "comment that is neither HELP nor TYPE";
        }

        static const std::regex sample_re("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)\\})? ([^ ]+)");
        std::smatch m;
        if (!std::regex_match(line, m, sample_re)) {
            return where + "not `name{labels} value` nor `name value`";
        }
        std::string name = m[1];
        std::string value = m[4];
        std::map<std::string, std::string> labels;
        if (m[2].matched && !parse_labels(m[3], labels)) {
            return where + "bad label set";
        }
        if (!is_value(value)) {
            return where + "bad value";
        }
        if (current.empty() || !current_typed) {
            return where + "sample before the HELP and TYPE of its family";
        }

        const std::string &type = e.types[current];
        std::string suffix;
        if (type == "histogram") {
            for (const char *s : {"_bucket", "_sum", "_count"}) {
                if (name == current + s) {
                    suffix = s;
                }
            }
            if (suffix.empty()) {
                return where + "sample name does not belong to histogram " + current;
            }
        } else if (name != current) {
            return where + "sample name differs from its family " + current;
        }

        if ((type == "counter" || type == "histogram") && value[0] == '-') {
            return where + "negative counter";
        }

        std::string key = name + (m[2].matched ? std::string(m[2]) : std::string());
        if (!e.series.emplace(key, value).second) {
            return where + "duplicate series";
        }
        e.order.push_back(key);
        samples_of[current]++;

        if (suffix == "_bucket") {
            auto le = labels.find("le");
            if (le == labels.end()) {
                return where + "bucket without le";
            }
            if (!is_value(le->second)) {
                return where + "bad le";
            }
            buckets[current].push_back({le_value(le->second), std::stod(value)});
        } else if (suffix == "_sum") {
            hist_sum_seen[current]++;
        } else if (suffix == "_count") {
            hist_count[current] = value;
        } else if (labels.count("le")) {
            return where + "le label outside a histogram bucket";
        }
    }

    for (const auto &[family, type] : e.types) {
        if (!samples_of[family]) {
            return family + ": family without samples";
        }
        if (type != "histogram") {
            continue;
        }
        const auto &b = buckets[family];
        if (b.empty() || b.back().le != std::numeric_limits<double>::infinity()) {
            return family + ": last bucket is not +Inf";
        }
        for (std::size_t i = 1; i < b.size(); i++) {
            if (!(b[i].le > b[i - 1].le)) {
                return family + ": le not increasing";
            }
            if (b[i].value < b[i - 1].value) {
                return family + ": buckets not cumulative";
            }
        }
        if (hist_sum_seen[family] != 1 || !hist_count.count(family)) {
            return family + ": _sum and _count must each appear once";
        }
        if (std::stod(hist_count[family]) != b.back().value) {
            return family + ": +Inf bucket differs from _count";
        }
    }
    for (const std::string &family : helped) {
        if (!e.types.count(family)) {
            return family + ": HELP without TYPE";
        }
    }

    if (exp != nullptr) {
        *exp = std::move(e);
    }
    return {};
}

Exposition parse_ok(const std::string &text)
{
    Exposition e;
    std::string err = check_exposition(text, &e);
    EXPECT_EQ(err, "") << text;
    return e;
}

unsigned idx(Metric m)
{
    return static_cast<unsigned>(m);
}

std::vector<std::uint64_t> zeros()
{
    return std::vector<std::uint64_t>(metric_slots, 0);
}

const char *const hist = "wxauth_redis_command_duration_seconds";

// Every series the exposition must hold, written from the specification (not from the code).
struct Expected {
    const char *series;
    Metric slot;
};

const Expected expected_counters[] = {
    {"wxauth_logins_total{outcome=\"ok\"}", Metric::login_ok},
    {"wxauth_logins_total{outcome=\"invalid_request\"}", Metric::login_invalid_request},
    {"wxauth_logins_total{outcome=\"method_not_allowed\"}", Metric::login_method_not_allowed},
    {"wxauth_logins_total{outcome=\"invalid_code\"}", Metric::login_invalid_code},
    {"wxauth_logins_total{outcome=\"user_blocked\"}", Metric::login_user_blocked},
    {"wxauth_logins_total{outcome=\"rate_limited\"}", Metric::login_rate_limited},
    {"wxauth_logins_total{outcome=\"wechat_unavailable\"}", Metric::login_wechat_unavailable},
    {"wxauth_logins_total{outcome=\"wechat_timeout\"}", Metric::login_wechat_timeout},
    {"wxauth_logins_total{outcome=\"store_unavailable\"}", Metric::login_store_unavailable},
    {"wxauth_logins_total{outcome=\"request_too_large\"}", Metric::login_request_too_large},
    {"wxauth_logins_total{outcome=\"internal_error\"}", Metric::login_internal_error},
    {"wxauth_session_checks_total{outcome=\"ok\"}", Metric::check_ok},
    {"wxauth_session_checks_total{outcome=\"missing_session\"}", Metric::check_missing_session},
    {"wxauth_session_checks_total{outcome=\"invalid_session\"}", Metric::check_invalid_session},
    {"wxauth_session_checks_total{outcome=\"session_expired\"}", Metric::check_session_expired},
    {"wxauth_session_checks_total{outcome=\"store_unavailable\"}", Metric::check_store_unavailable},
    {"wxauth_session_checks_total{outcome=\"app_not_allowed\"}", Metric::check_app_not_allowed},
    {"wxauth_session_checks_total{outcome=\"internal_error\"}", Metric::check_internal_error},
    {"wxauth_session_renewals_total", Metric::session_renewed},
    {"wxauth_logouts_total{outcome=\"ok\"}", Metric::logout_ok},
    {"wxauth_logouts_total{outcome=\"failed\"}", Metric::logout_failed},
    {"wxauth_user_data_total{handler=\"signature\",outcome=\"ok\"}", Metric::signature_ok},
    {"wxauth_user_data_total{handler=\"signature\",outcome=\"failed\"}", Metric::signature_failed},
    {"wxauth_user_data_total{handler=\"decrypt\",outcome=\"ok\"}", Metric::decrypt_ok},
    {"wxauth_user_data_total{handler=\"decrypt\",outcome=\"failed\"}", Metric::decrypt_failed},
    {"wxauth_wechat_answers_total{errcode=\"0\"}", Metric::wx_errcode_0},
    {"wxauth_wechat_answers_total{errcode=\"-1\"}", Metric::wx_errcode_minus1},
    {"wxauth_wechat_answers_total{errcode=\"40029\"}", Metric::wx_errcode_40029},
    {"wxauth_wechat_answers_total{errcode=\"40163\"}", Metric::wx_errcode_40163},
    {"wxauth_wechat_answers_total{errcode=\"40226\"}", Metric::wx_errcode_40226},
    {"wxauth_wechat_answers_total{errcode=\"45011\"}", Metric::wx_errcode_45011},
    {"wxauth_wechat_answers_total{errcode=\"40013\"}", Metric::wx_errcode_40013},
    {"wxauth_wechat_answers_total{errcode=\"40125\"}", Metric::wx_errcode_40125},
    {"wxauth_wechat_answers_total{errcode=\"other\"}", Metric::wx_errcode_other},
    {"wxauth_wechat_answers_total{errcode=\"unparsable\"}", Metric::wx_bad_response},
    {"wxauth_wechat_answers_total{errcode=\"http_error\"}", Metric::wx_http_error},
    {"wxauth_wechat_answers_total{errcode=\"timeout\"}", Metric::wx_timeout},
    {"wxauth_redis_errors_total{kind=\"error\"}", Metric::redis_errors},
    {"wxauth_redis_errors_total{kind=\"timeout\"}", Metric::redis_timeouts},
    {"wxauth_redis_failovers_total", Metric::redis_failovers},
    {"wxauth_redis_redirects_total{kind=\"moved\"}", Metric::redis_redirects_moved},
    {"wxauth_redis_redirects_total{kind=\"ask\"}", Metric::redis_redirects_ask},
    {"wxauth_redis_slot_map_refreshes_total", Metric::redis_slot_map_refreshes},
};

const char *const expected_le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                                   "0.05",   "0.1",   "0.25",   "0.5",   "1",    "+Inf"};

std::string bucket_key(const char *le)
{
    return std::string(hist) + "_bucket{le=\"" + le + "\"}";
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST(MetricsBuckets, Boundaries)
{
    const std::uint64_t bounds[] = {500,   1000,   2500,   5000,   10000,  25000,
                                    50000, 100000, 250000, 500000, 1000000};
    const unsigned first = idx(Metric::redis_latency_bucket_0);

    EXPECT_EQ(redis_latency_bucket(0), Metric::redis_latency_bucket_0);
    EXPECT_EQ(redis_latency_bucket(1), Metric::redis_latency_bucket_0);

    for (unsigned i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        Metric here = static_cast<Metric>(first + i);
        Metric next = static_cast<Metric>(first + i + 1);
        // a bucket holds the values up to and including its bound (`le`)
        EXPECT_EQ(redis_latency_bucket(bounds[i]), here) << bounds[i];
        EXPECT_EQ(redis_latency_bucket(bounds[i] - 1), here) << bounds[i] - 1;
        EXPECT_EQ(redis_latency_bucket(bounds[i] + 1), next) << bounds[i] + 1;
    }

    EXPECT_EQ(redis_latency_bucket(1000001), Metric::redis_latency_bucket_inf);
    EXPECT_EQ(redis_latency_bucket(60000000), Metric::redis_latency_bucket_inf);
    EXPECT_EQ(redis_latency_bucket(std::numeric_limits<std::uint64_t>::max()),
              Metric::redis_latency_bucket_inf);
}

TEST(MetricsRender, AllZeroIsValidAndHoldsEverySeries)
{
    auto values = zeros();
    std::string text = render_prometheus(values.data());
    Exposition e = parse_ok(text);

    for (const Expected &x : expected_counters) {
        ASSERT_TRUE(e.series.count(x.series)) << x.series;
        EXPECT_EQ(e.series[x.series], "0") << x.series;
    }
    for (const char *le : expected_le) {
        ASSERT_TRUE(e.series.count(bucket_key(le))) << le;
        EXPECT_EQ(e.series[bucket_key(le)], "0") << le;
    }
    EXPECT_EQ(e.series[std::string(hist) + "_sum"], "0");
    EXPECT_EQ(e.series[std::string(hist) + "_count"], "0");
    EXPECT_EQ(e.series["wxauth_redis_connections"], "0");

    // nothing else
    std::size_t n = sizeof(expected_counters) / sizeof(expected_counters[0])
                    + sizeof(expected_le) / sizeof(expected_le[0]) + 2 + 1;
    EXPECT_EQ(e.series.size(), n);

    EXPECT_EQ(e.types["wxauth_logins_total"], "counter");
    EXPECT_EQ(e.types["wxauth_session_checks_total"], "counter");
    EXPECT_EQ(e.types["wxauth_session_renewals_total"], "counter");
    EXPECT_EQ(e.types["wxauth_logouts_total"], "counter");
    EXPECT_EQ(e.types["wxauth_user_data_total"], "counter");
    EXPECT_EQ(e.types["wxauth_wechat_answers_total"], "counter");
    EXPECT_EQ(e.types["wxauth_redis_errors_total"], "counter");
    EXPECT_EQ(e.types["wxauth_redis_failovers_total"], "counter");
    EXPECT_EQ(e.types["wxauth_redis_redirects_total"], "counter");
    EXPECT_EQ(e.types["wxauth_redis_slot_map_refreshes_total"], "counter");
    EXPECT_EQ(e.types[hist], "histogram");
    EXPECT_EQ(e.types["wxauth_redis_connections"], "gauge");
    EXPECT_EQ(e.types.size(), 12u);
}

TEST(MetricsRender, EveryCounterReadsItsOwnSlot)
{
    auto values = zeros();
    for (unsigned i = 0; i < metric_slots; i++) {
        values[i] = 1000 + i;
    }
    Exposition e = parse_ok(render_prometheus(values.data()));

    for (const Expected &x : expected_counters) {
        EXPECT_EQ(e.series[x.series], std::to_string(1000 + idx(x.slot))) << x.series;
    }
    EXPECT_EQ(e.series["wxauth_redis_connections"],
              std::to_string(1000 + idx(Metric::redis_connections)));
}

TEST(MetricsRender, BucketsAreCumulative)
{
    auto values = zeros();
    const unsigned first = idx(Metric::redis_latency_bucket_0);
    // slot i (0..11, the last one being +Inf) holds i + 1 observations
    for (unsigned i = 0; i < 12; i++) {
        values[first + i] = i + 1;
    }
    values[idx(Metric::redis_latency_count)] = 78;
    Exposition e = parse_ok(render_prometheus(values.data()));

    std::uint64_t cumulative = 0;
    for (unsigned i = 0; i < 12; i++) {
        cumulative += i + 1;
        EXPECT_EQ(e.series[bucket_key(expected_le[i])], std::to_string(cumulative))
            << expected_le[i];
    }
    EXPECT_EQ(cumulative, 78u);
    EXPECT_EQ(e.series[std::string(hist) + "_count"], "78");

    // the buckets are printed in order of le
    std::vector<std::string> printed;
    for (const std::string &k : e.order) {
        if (k.rfind(std::string(hist) + "_bucket", 0) == 0) {
            printed.push_back(k);
        }
    }
    ASSERT_EQ(printed.size(), 12u);
    for (unsigned i = 0; i < 12; i++) {
        EXPECT_EQ(printed[i], bucket_key(expected_le[i]));
    }
}

TEST(MetricsRender, InfBucketAndCountAgreeWhenTheCountSlotLags)
{
    // a scrape may see a bucket already incremented and the count slot not yet
    auto values = zeros();
    values[idx(Metric::redis_latency_bucket_3)] = 5;
    values[idx(Metric::redis_latency_bucket_inf)] = 2;
    values[idx(Metric::redis_latency_count)] = 6;
    Exposition e = parse_ok(render_prometheus(values.data()));
    EXPECT_EQ(e.series[bucket_key("+Inf")], "7");
    EXPECT_EQ(e.series[std::string(hist) + "_count"], "7");
    EXPECT_EQ(e.series[bucket_key("0.0025")], "0");
    EXPECT_EQ(e.series[bucket_key("0.005")], "5");
    EXPECT_EQ(e.series[bucket_key("1")], "5");
}

TEST(MetricsRender, SumInSeconds)
{
    const struct {
        std::uint64_t micros;
        const char *text;
    } cases[] = {
        {0, "0"},
        {1, "0.000001"},
        {10, "0.00001"},
        {1500, "0.0015"},
        {250000, "0.25"},
        {1000000, "1"},
        {2500000, "2.5"},
        {123456789, "123.456789"},
        {3600000000ull, "3600"},
        {std::numeric_limits<std::uint64_t>::max(), "18446744073709.551615"},
    };
    for (const auto &c : cases) {
        auto values = zeros();
        values[idx(Metric::redis_latency_sum_us)] = c.micros;
        Exposition e = parse_ok(render_prometheus(values.data()));
        EXPECT_EQ(e.series[std::string(hist) + "_sum"], c.text) << c.micros;
    }
}

TEST(MetricsRender, ConnectionsGaugeIsSignedAndClamped)
{
    const struct {
        std::int64_t value;
        const char *text;
    } cases[] = {
        {0, "0"},
        {7, "7"},
        {-1, "0"},
        {-12345, "0"},
        {std::numeric_limits<std::int64_t>::min(), "0"},
        {std::numeric_limits<std::int64_t>::max(), "9223372036854775807"},
    };
    for (const auto &c : cases) {
        auto values = zeros();
        values[idx(Metric::redis_connections)] = static_cast<std::uint64_t>(c.value);
        Exposition e = parse_ok(render_prometheus(values.data()));
        EXPECT_EQ(e.series["wxauth_redis_connections"], c.text) << c.value;
    }
}

TEST(MetricsRender, LargeCountersPrintInFull)
{
    auto values = zeros();
    values[idx(Metric::login_ok)] = std::numeric_limits<std::uint64_t>::max();
    Exposition e = parse_ok(render_prometheus(values.data()));
    EXPECT_EQ(e.series["wxauth_logins_total{outcome=\"ok\"}"], "18446744073709551615");
}

TEST(MetricsRender, HelpAndTypeLines)
{
    auto values = zeros();
    std::string text = render_prometheus(values.data());
    EXPECT_NE(text.find("# TYPE wxauth_logins_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE wxauth_redis_command_duration_seconds histogram\n"),
              std::string::npos);
    EXPECT_NE(text.find("# TYPE wxauth_redis_connections gauge\n"), std::string::npos);
    EXPECT_EQ(text.rfind("# HELP wxauth_logins_total ", 0), 0u);
}

// The checker itself must be strict, or the tests above prove little.
TEST(MetricsChecker, RejectsMalformedExpositions)
{
    const char *const bad[] = {
        "",
        "x_total 1",                                              // no final newline
        "x_total 1\n",                                            // no HELP/TYPE
        "# HELP x_total h\nx_total 1\n",                          // no TYPE
        "# TYPE x_total counter\n# HELP x_total h\nx_total 1\n",  // TYPE before HELP
        "# HELP x_total h\n# TYPE x_total counter\nx_total one\n",
        "# HELP x_total h\n# TYPE x_total counter\nx_total  1\n",
        "# HELP x_total h\n# TYPE x_total counter\nx_total{a=b} 1\n",
        "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"b\",a=\"c\"} 1\n",
        "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"b\"} 1\nx_total{a=\"b\"} 2\n",
        "# HELP x_total h\n# TYPE x_total counter\ny_total 1\n",
        "# HELP x_total h\n# TYPE x_total counter\nx_total -1\n",
        "# HELP x_total h\n# TYPE x_total counter\n\nx_total 1\n",
        "# HELP x_total h\n# TYPE x_total counter\n# note\nx_total 1\n",
        "# HELP x h\n# TYPE x counter\nx 1\n",                     // counter without _total
        "# HELP x_total h\n# TYPE x_total counter\n",             // no samples
        "# HELP x_total h\n# TYPE x_total counter\nx_total 1\n"
        "# HELP y h\n# TYPE y gauge\ny 1\nx_total 2\n",          // family split
        // histograms: not cumulative, le out of order, no +Inf, +Inf != _count
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 0\nh_count 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 0\nh_count 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 0\nh_count 2\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
    };
    for (const char *text : bad) {
        EXPECT_NE(check_exposition(text, nullptr), "") << text;
    }

    const char *good =
        "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"b\\\"c\"} 1\nx_total{a=\"d\"} 2\n"
        "# HELP g h\n# TYPE g gauge\ng 1.5\n"
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 3\n"
        "h_sum 0.25\nh_count 3\n";
    EXPECT_EQ(check_exposition(good, nullptr), "");
}

TEST(MetricsRender, RedisNodes)
{
    EXPECT_EQ(render_redis_nodes({}), "");

    std::vector<RedisNodeInfo> nodes(2);
    nodes[0].redis = "127.0.0.1:7000,127.0.0.1:7001";
    nodes[0].address = "127.0.0.1:7000";
    nodes[0].role = "master";
    nodes[0].connected = true;
    nodes[1].redis = "we\"ird\\name\n";
    nodes[1].address = "[::1]:7003";
    nodes[1].role = "replica";
    std::string text = render_redis_nodes(nodes);
    EXPECT_NE(text.find("# TYPE wxauth_redis_node_info gauge\n"), std::string::npos);
    EXPECT_NE(text.find("wxauth_redis_node_info{redis=\"127.0.0.1:7000,127.0.0.1:7001\","
                        "address=\"127.0.0.1:7000\",role=\"master\",connected=\"1\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("wxauth_redis_node_info{redis=\"we\\\"ird\\\\name\\n\","
                        "address=\"[::1]:7003\",role=\"replica\",connected=\"0\"} 1\n"),
              std::string::npos);
}
