// Counters of the module and their Prometheus text exposition (no nginx dependency: the nginx
// glue keeps the values in shared memory, aggregated over all workers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wxauth {

// Every counter slot. The glue keeps one 64-bit atomic value per slot.
enum class Metric : unsigned {
    // wxauth_logins_total{outcome=...}
    login_ok,
    login_invalid_request,
    login_request_too_large,
    login_method_not_allowed,
    login_invalid_code,
    login_user_blocked,
    login_rate_limited,
    login_wechat_unavailable,
    login_wechat_timeout,
    login_store_unavailable,
    login_internal_error,

    // wxauth_session_checks_total{outcome=...}
    check_ok,
    check_missing_session,
    check_invalid_session,
    check_session_expired,
    check_store_unavailable,
    check_app_not_allowed,
    check_internal_error,

    // wxauth_session_renewals_total
    session_renewed,

    // wxauth_logouts_total{outcome=...}
    logout_ok,
    logout_failed,

    // wxauth_user_data_total{handler="signature"|"decrypt",outcome="ok"|"failed"}
    signature_ok,
    signature_failed,
    decrypt_ok,
    decrypt_failed,

    // wxauth_wechat_answers_total{errcode=...}: the errcodes of the field notes, then the rest
    wx_errcode_0,
    wx_errcode_minus1,
    wx_errcode_40029,
    wx_errcode_40163,
    wx_errcode_40226,
    wx_errcode_45011,
    wx_errcode_40013,
    wx_errcode_40125,
    wx_errcode_other,
    wx_bad_response,      // errcode="unparsable"
    wx_http_error,        // errcode="http_error" (non-2xx or transport failure)
    wx_timeout,           // errcode="timeout"

    // wxauth_redis_errors_total{kind="error"|"timeout"}
    redis_errors,
    redis_timeouts,

    // wxauth_redis_command_duration_seconds histogram: one slot per bucket (cumulative is
    // computed when rendering), then the +Inf bucket, then sum in microseconds, then count
    redis_latency_bucket_0,   // <= 0.0005 s
    redis_latency_bucket_1,   // <= 0.001
    redis_latency_bucket_2,   // <= 0.0025
    redis_latency_bucket_3,   // <= 0.005
    redis_latency_bucket_4,   // <= 0.01
    redis_latency_bucket_5,   // <= 0.025
    redis_latency_bucket_6,   // <= 0.05
    redis_latency_bucket_7,   // <= 0.1
    redis_latency_bucket_8,   // <= 0.25
    redis_latency_bucket_9,   // <= 0.5
    redis_latency_bucket_10,  // <= 1
    redis_latency_bucket_inf, // > 1
    redis_latency_sum_us,
    redis_latency_count,

    // wxauth_redis_connections (gauge): currently open connections, all workers
    redis_connections,

    // wxauth_redis_failovers_total: a worker moved to a new master a Sentinel promoted, or
    // found a cluster node's slots served by another node while it could not reach it
    redis_failovers,

    // wxauth_redis_redirects_total{kind="moved"|"ask"}: Redis Cluster redirects followed
    redis_redirects_moved,
    redis_redirects_ask,

    // wxauth_redis_slot_map_refreshes_total: Redis Cluster slot maps read (CLUSTER SLOTS)
    redis_slot_map_refreshes,

    count_  // number of slots
};

constexpr unsigned metric_slots = static_cast<unsigned>(Metric::count_);

// The histogram slot for a Redis batch that took `micros` microseconds.
Metric redis_latency_bucket(std::uint64_t micros) noexcept;

// Prometheus text exposition format 0.0.4 (# HELP / # TYPE lines, counters with _total,
// cumulative histogram buckets with le labels, _sum in seconds, _count).
// values has metric_slots entries; the gauge slot is read as a signed value.
std::string render_prometheus(const std::uint64_t *values);

// A Redis node as one worker sees it, for wxauth_redis_node_info.
struct RedisNodeInfo {
    std::string redis;      // the configured store (wxauth_redis address, sentinel master
                            // name, cluster seed list)
    std::string address;    // "ip:port", "[ipv6]:port" or "unix:/path"
    std::string role;       // "master" (ROLE or the slot map said so), "replica" (the slot map
                            // names it), "standalone" (wxauth_redis: roles are not asked)
    bool connected = false; // the worker has a live connection to it that answered its setup
};

// Prometheus text for the nodes: "# HELP", "# TYPE wxauth_redis_node_info gauge", then
// wxauth_redis_node_info{redis="..",address="..",role="..",connected="1"|"0"} 1 per node.
// Empty when there are none. Label values are escaped (\\, \", \n).
std::string render_redis_nodes(const std::vector<RedisNodeInfo> &nodes);

// A Prometheus label value: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view v);

}  // namespace wxauth
