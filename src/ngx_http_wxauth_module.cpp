/*
 * ngx_http_wxauth_module: directives, configuration, variables, process hooks.
 */

#include "ngx_http_wxauth_module.h"
#include "ngx_http_wxauth_redis.h"
#include "ngx_http_wxauth_redis_sentinel.h"
#include "ngx_http_wxauth_redis_cluster.h"
#include "ngx_http_wxauth_metrics.h"

#include "core/errors.h"


static ngx_int_t ngx_http_wxauth_add_variables(ngx_conf_t *cf);
static void *ngx_http_wxauth_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_wxauth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_wxauth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t ngx_http_wxauth_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_wxauth_init_process(ngx_cycle_t *cycle);
static void ngx_http_wxauth_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_wxauth_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_wxauth_redis_sentinel(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_wxauth_redis_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_wxauth_login_replicas(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_wxauth_set_content_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_wxauth_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_wxauth_code2session(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_wxauth_allowed_apps(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_wxauth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* what a handler directive makes of its location */
typedef struct {
    ngx_uint_t            kind;       /* NGX_HTTP_WXAUTH_HANDLER_* */
    ngx_http_handler_pt   handler;    /* the location's content handler */
} ngx_http_wxauth_handler_kind_t;

static ngx_http_wxauth_handler_kind_t  ngx_http_wxauth_login_kind =
    { NGX_HTTP_WXAUTH_HANDLER_LOGIN, ngx_http_wxauth_login_handler };
static ngx_http_wxauth_handler_kind_t  ngx_http_wxauth_logout_kind =
    { NGX_HTTP_WXAUTH_HANDLER_LOGOUT, ngx_http_wxauth_logout_handler };
static ngx_http_wxauth_handler_kind_t  ngx_http_wxauth_signature_kind =
    { NGX_HTTP_WXAUTH_HANDLER_SIGNATURE, ngx_http_wxauth_signature_handler };
static ngx_http_wxauth_handler_kind_t  ngx_http_wxauth_decrypt_kind =
    { NGX_HTTP_WXAUTH_HANDLER_DECRYPT, ngx_http_wxauth_decrypt_handler };
static ngx_http_wxauth_handler_kind_t  ngx_http_wxauth_metrics_kind =
    { NGX_HTTP_WXAUTH_HANDLER_METRICS, ngx_http_wxauth_metrics_handler };


static ngx_command_t  ngx_http_wxauth_commands[] = {

    { ngx_string("wxauth_redis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1234,
      ngx_http_wxauth_redis,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("wxauth_redis_sentinel"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_2MORE,
      ngx_http_wxauth_redis_sentinel,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("wxauth_redis_cluster"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_wxauth_redis_cluster,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("wxauth_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, redis_timeout),
      NULL },

    { ngx_string("wxauth_redis_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, redis_prefix),
      NULL },

    { ngx_string("wxauth_session_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, session_ttl),
      NULL },

    { ngx_string("wxauth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, enable),
      NULL },

    { ngx_string("wxauth_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, token),
      NULL },

    { ngx_string("wxauth_login"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_wxauth_set_content_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_wxauth_login_kind },

    { ngx_string("wxauth_logout"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_wxauth_set_content_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_wxauth_logout_kind },

    { ngx_string("wxauth_verify_signature"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_wxauth_set_content_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_wxauth_signature_kind },

    { ngx_string("wxauth_decrypt"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_wxauth_set_content_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_wxauth_decrypt_kind },

    { ngx_string("wxauth_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_wxauth_set_content_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_wxauth_metrics_kind },

    { ngx_string("wxauth_session_renew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, session_renew),
      NULL },

    { ngx_string("wxauth_session_max_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, session_max_lifetime),
      NULL },

    { ngx_string("wxauth_single_session"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, single_session),
      NULL },

    { ngx_string("wxauth_login_replicas"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_wxauth_login_replicas,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("wxauth_allowed_apps"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_wxauth_allowed_apps,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, allowed_apps),
      NULL },

    { ngx_string("wxauth_watermark_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, watermark_max_age),
      NULL },

    { ngx_string("wxauth_appid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, appid),
      NULL },

    { ngx_string("wxauth_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, secret),
      NULL },

    { ngx_string("wxauth_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_wxauth_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("wxauth_code2session"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_wxauth_code2session,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_wxauth_loc_conf_t, code2session),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_wxauth_module_ctx = {
    ngx_http_wxauth_add_variables,         /* preconfiguration */
    ngx_http_wxauth_init,                  /* postconfiguration */

    ngx_http_wxauth_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_wxauth_create_loc_conf,       /* create location configuration */
    ngx_http_wxauth_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_wxauth_module = {
    NGX_MODULE_V1,
    &ngx_http_wxauth_module_ctx,           /* module context */
    ngx_http_wxauth_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_wxauth_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_wxauth_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_WXAUTH_VAR_OPENID = 0,
    NGX_HTTP_WXAUTH_VAR_UNIONID,
    NGX_HTTP_WXAUTH_VAR_APPID,
    NGX_HTTP_WXAUTH_VAR_ERROR
};


static ngx_http_variable_t  ngx_http_wxauth_vars[] = {

    { ngx_string("wxauth_openid"), NULL, ngx_http_wxauth_variable,
      NGX_HTTP_WXAUTH_VAR_OPENID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("wxauth_unionid"), NULL, ngx_http_wxauth_variable,
      NGX_HTTP_WXAUTH_VAR_UNIONID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("wxauth_appid"), NULL, ngx_http_wxauth_variable,
      NGX_HTTP_WXAUTH_VAR_APPID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("wxauth_error"), NULL, ngx_http_wxauth_variable,
      NGX_HTTP_WXAUTH_VAR_ERROR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};




static ngx_int_t
ngx_http_wxauth_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t               *s, code;
    ngx_http_wxauth_ctx_t  *ctx;

    ctx = ngx_http_wxauth_find_ctx(r->main);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {
    case NGX_HTTP_WXAUTH_VAR_ERROR:
        if (!ctx->failed) {
            v->not_found = 1;
            return NGX_OK;
        }

        code.data = (u_char *) wxauth::error_code(ctx->error);
        code.len = ngx_strlen(code.data);
        s = &code;
        break;
    case NGX_HTTP_WXAUTH_VAR_OPENID:
        s = &ctx->openid;
        break;
    case NGX_HTTP_WXAUTH_VAR_UNIONID:
        s = &ctx->unionid;
        break;
    default:
        s = &ctx->appid;
        break;
    }

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_wxauth_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_wxauth_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_wxauth_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_wxauth_main_conf_t  *wmcf;

    wmcf = static_cast<ngx_http_wxauth_main_conf_t *>(
               ngx_pcalloc(cf->pool, sizeof(ngx_http_wxauth_main_conf_t)));
    if (wmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&wmcf->servers, cf->pool, 2, sizeof(ngx_http_wxauth_redis_server_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return wmcf;
}


static void *
ngx_http_wxauth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_wxauth_loc_conf_t  *conf;

    conf = static_cast<ngx_http_wxauth_loc_conf_t *>(
               ngx_pcalloc(cf->pool, sizeof(ngx_http_wxauth_loc_conf_t)));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->redis_prefix = { 0, NULL };
     *     conf->appid = { 0, NULL };
     *     conf->secret = { 0, NULL };
     *     conf->code2session = { 0, NULL };
     *     conf->token = NULL;
     *     conf->login = 0;
     */

    conf->redis = static_cast<ngx_http_wxauth_redis_server_t *>(NGX_CONF_UNSET_PTR);
    conf->redis_timeout = NGX_CONF_UNSET_MSEC;
    conf->session_ttl = NGX_CONF_UNSET;
    conf->enable = NGX_CONF_UNSET;
    conf->session_renew = NGX_CONF_UNSET;
    conf->session_max_lifetime = NGX_CONF_UNSET;
    conf->single_session = NGX_CONF_UNSET;
    conf->login_replicas = NGX_CONF_UNSET_UINT;
    conf->login_replicas_wait = NGX_CONF_UNSET_MSEC;
    conf->allowed_apps = static_cast<ngx_array_t *>(NGX_CONF_UNSET_PTR);
    conf->watermark_max_age = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_wxauth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_wxauth_loc_conf_t *prev = static_cast<ngx_http_wxauth_loc_conf_t *>(parent);
    ngx_http_wxauth_loc_conf_t *conf = static_cast<ngx_http_wxauth_loc_conf_t *>(child);

    ngx_conf_merge_ptr_value(conf->redis, prev->redis, NULL);
    ngx_conf_merge_msec_value(conf->redis_timeout, prev->redis_timeout, 1000);
    ngx_conf_merge_str_value(conf->redis_prefix, prev->redis_prefix, "wxauth:");
    ngx_conf_merge_sec_value(conf->session_ttl, prev->session_ttl, 86400);
    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->session_renew, prev->session_renew, 0);
    ngx_conf_merge_sec_value(conf->session_max_lifetime, prev->session_max_lifetime, 0);
    ngx_conf_merge_value(conf->single_session, prev->single_session, 0);
    ngx_conf_merge_uint_value(conf->login_replicas, prev->login_replicas, 0);
    ngx_conf_merge_msec_value(conf->login_replicas_wait, prev->login_replicas_wait, 1000);
    ngx_conf_merge_ptr_value(conf->allowed_apps, prev->allowed_apps, NULL);
    ngx_conf_merge_sec_value(conf->watermark_max_age, prev->watermark_max_age, 0);
    ngx_conf_merge_str_value(conf->appid, prev->appid, "");
    ngx_conf_merge_str_value(conf->secret, prev->secret, "");
    ngx_conf_merge_str_value(conf->code2session, prev->code2session, "");

    if (conf->token == NULL) {
        conf->token = prev->token;
    }

    if (conf->session_ttl <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"wxauth_session_ttl\" must be positive");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->redis_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"wxauth_redis_timeout\" must be positive");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    /*
     * Without liveness=, a connection is taken as dead when it answered nothing for as long as
     * the most patient location using it waits: a location with a short wxauth_redis_timeout
     * fails its own requests, never the connection of everyone else.
     */
    if (conf->redis && !conf->redis->liveness_set) {
        conf->redis->liveness = ngx_max(conf->redis->liveness, conf->redis_timeout);
    }

    /* a login that WAITs does so on a connection of its own: no check waits behind it */
    if (conf->redis && conf->login_replicas && conf->handler == NGX_HTTP_WXAUTH_HANDLER_LOGIN) {
        conf->redis->needs_wconn = 1;

        if (!conf->redis->liveness_set) {
            conf->redis->liveness = ngx_max(conf->redis->liveness,
                                            conf->redis_timeout + conf->login_replicas_wait);
        }
    }

    if (conf->session_max_lifetime < 0 || conf->watermark_max_age < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "negative time in a wxauth directive");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if ((conf->handler == NGX_HTTP_WXAUTH_HANDLER_LOGOUT
         || conf->handler == NGX_HTTP_WXAUTH_HANDLER_SIGNATURE
         || conf->handler == NGX_HTTP_WXAUTH_HANDLER_DECRYPT)
        && conf->redis == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"wxauth_logout\", \"wxauth_verify_signature\" and \"wxauth_decrypt\" "
                      "need a \"wxauth_redis\" in the http or server block");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->enable && conf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"wxauth on\" needs a \"wxauth_redis\" in the http or server block");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->handler == NGX_HTTP_WXAUTH_HANDLER_LOGIN) {
        const char  *missing = NULL;

        if (conf->appid.len == 0) {
            missing = "\"wxauth_appid\"";
        } else if (conf->secret.len == 0) {
            missing = "\"wxauth_secret\" or \"wxauth_secret_file\"";
        } else if (conf->code2session.len == 0) {
            missing = "\"wxauth_code2session\"";
        } else if (conf->redis == NULL) {
            missing = "\"wxauth_redis\"";
        }

        if (missing) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"wxauth_login\" in %V:%ui needs %s",
                          &conf->handler_file, conf->handler_line, missing);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    return NGX_CONF_OK;
}


/*
 * The options of wxauth_redis (from args[first]) and wxauth_redis_sentinel: password=, db=,
 * liveness=, and for the latter sentinel_password=. With `addresses` (wxauth_redis_sentinel),
 * an argument without "=" is a sentinel address: they are collected there, in order.
 */
static char *
ngx_http_wxauth_redis_options(ngx_conf_t *cf, ngx_str_t *value, ngx_uint_t first,
    ngx_array_t *addresses, ngx_str_t *password, ngx_str_t *sentinel_password, ngx_int_t *db,
    ngx_msec_t *liveness)
{
    const char  *directive;
    ngx_str_t   *addr, s_liveness;
    ngx_uint_t   i;

    directive = (const char *) value[0].data;   /* the directive's name, NUL-terminated */

    if (db != NULL) {
        *db = 0;
    }

    *liveness = 0;
    ngx_str_null(password);

    if (sentinel_password) {
        ngx_str_null(sentinel_password);
    }

    for (i = first; i < cf->args->nelts; i++) {

        if (sentinel_password && ngx_strncmp(value[i].data, "sentinel_password=", 18) == 0) {
            sentinel_password->data = value[i].data + 18;
            sentinel_password->len = value[i].len - 18;

            if (sentinel_password->len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty \"sentinel_password=\" in \"%s\"", directive);
                return static_cast<char *>(NGX_CONF_ERROR);
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            password->data = value[i].data + 9;
            password->len = value[i].len - 9;

            if (password->len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty \"password=\" in \"%s\"", directive);
                return static_cast<char *>(NGX_CONF_ERROR);
            }

            continue;
        }

        if (db != NULL && ngx_strncmp(value[i].data, "db=", 3) == 0) {
            *db = ngx_atoi(value[i].data + 3, value[i].len - 3);

            if (*db == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"%s\": "
                                   "db must be a non-negative number", &value[i], directive);
                return static_cast<char *>(NGX_CONF_ERROR);
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "liveness=", 9) == 0) {
            s_liveness.data = value[i].data + 9;
            s_liveness.len = value[i].len - 9;

            *liveness = ngx_parse_time(&s_liveness, 0);

            if (*liveness == (ngx_msec_t) NGX_ERROR || *liveness == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"%s\": "
                                   "liveness must be a positive time", &value[i], directive);
                return static_cast<char *>(NGX_CONF_ERROR);
            }

            continue;
        }

        if (addresses && ngx_strlchr(value[i].data, value[i].data + value[i].len, '=') == NULL) {
            addr = static_cast<ngx_str_t *>(ngx_array_push(addresses));
            if (addr == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }

            *addr = value[i];
            continue;
        }

        /* never echo the parameter: it may be a mistyped password */
        if (db == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter #%ui in \"wxauth_redis_cluster\", "
                               "expected a node address, \"password=...\" or "
                               "\"liveness=TIME\" (a cluster has only database 0: no \"db=\")",
                               i);

        } else if (addresses) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter #%ui in \"wxauth_redis_sentinel\", "
                               "expected a sentinel address, \"password=...\", "
                               "\"sentinel_password=...\", \"db=N\" or \"liveness=TIME\"", i);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter #%ui in \"wxauth_redis\", "
                               "expected \"password=...\", \"db=N\" or \"liveness=TIME\"", i);
        }

        return static_cast<char *>(NGX_CONF_ERROR);
    }

    return NGX_CONF_OK;
}


#define NGX_HTTP_WXAUTH_REDIS_PLAIN     0
#define NGX_HTTP_WXAUTH_REDIS_SENTINEL  1
#define NGX_HTTP_WXAUTH_REDIS_CLUSTER   2

/* a block names its Redis once: "is duplicate", or which other directive it has already */
static char *
ngx_http_wxauth_redis_conflict(ngx_http_wxauth_redis_server_t *existing, ngx_uint_t kind)
{
    ngx_uint_t  has;

    has = existing->sentinel ? NGX_HTTP_WXAUTH_REDIS_SENTINEL
          : existing->cluster ? NGX_HTTP_WXAUTH_REDIS_CLUSTER : NGX_HTTP_WXAUTH_REDIS_PLAIN;

    if (has == kind) {
        return const_cast<char *>("is duplicate");
    }

    switch (has) {
    case NGX_HTTP_WXAUTH_REDIS_SENTINEL:
        return const_cast<char *>("is not allowed with \"wxauth_redis_sentinel\" "
                                  "in the same block");
    case NGX_HTTP_WXAUTH_REDIS_CLUSTER:
        return const_cast<char *>("is not allowed with \"wxauth_redis_cluster\" "
                                  "in the same block");
    default:
        return const_cast<char *>("is not allowed with \"wxauth_redis\" in the same block");
    }
}


/* A new Redis server (an address, or the master of a sentinel set): the location's, and one
 * connection per worker */
static char *
ngx_http_wxauth_redis_add_server(ngx_conf_t *cf, ngx_http_wxauth_loc_conf_t *wlcf,
    ngx_http_wxauth_redis_server_t *server, ngx_str_t *password, ngx_int_t db,
    ngx_msec_t liveness)
{
    ngx_http_wxauth_main_conf_t      *wmcf;
    ngx_http_wxauth_redis_server_t  **s;

    server->password = *password;
    server->db = db;
    server->liveness = liveness;
    server->liveness_set = liveness ? 1 : 0;

    wmcf = static_cast<ngx_http_wxauth_main_conf_t *>(
               ngx_http_conf_get_module_main_conf(cf, ngx_http_wxauth_module));

    s = static_cast<ngx_http_wxauth_redis_server_t **>(ngx_array_push(&wmcf->servers));
    if (s == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    *s = server;
    wlcf->redis = server;

    return NGX_CONF_OK;
}


static char *
ngx_http_wxauth_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_wxauth_loc_conf_t *wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(conf);

    char                             *rv;
    ngx_int_t                         db;
    ngx_str_t                        *value, password;
    ngx_msec_t                        liveness;
    ngx_uint_t                        i;
    ngx_http_wxauth_main_conf_t      *wmcf;
    ngx_http_wxauth_redis_server_t   *server, **s;

    if (wlcf->redis != NGX_CONF_UNSET_PTR) {
        return ngx_http_wxauth_redis_conflict(wlcf->redis, NGX_HTTP_WXAUTH_REDIS_PLAIN);
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (ngx_http_wxauth_redis_options(cf, value, 2, NULL, &password, NULL, &db, &liveness)
        != NGX_CONF_OK)
    {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    wmcf = static_cast<ngx_http_wxauth_main_conf_t *>(
               ngx_http_conf_get_module_main_conf(cf, ngx_http_wxauth_module));

    /* one connection per worker and distinct server */

    s = static_cast<ngx_http_wxauth_redis_server_t **>(wmcf->servers.elts);

    for (i = 0; i < wmcf->servers.nelts; i++) {
        if (s[i]->sentinel == NULL && s[i]->cluster == NULL
            && s[i]->name.len == value[1].len
            && ngx_strncmp(s[i]->name.data, value[1].data, value[1].len) == 0
            && s[i]->db == db
            && s[i]->password.len == password.len
            && ngx_strncmp(s[i]->password.data, password.data, password.len) == 0)
        {
            if (liveness) {
                s[i]->liveness = ngx_max(s[i]->liveness, liveness);
                s[i]->liveness_set = 1;
            }

            wlcf->redis = s[i];
            return NGX_CONF_OK;
        }
    }

    server = static_cast<ngx_http_wxauth_redis_server_t *>(
                 ngx_pcalloc(cf->pool, sizeof(ngx_http_wxauth_redis_server_t)));
    if (server == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    rv = ngx_http_wxauth_redis_parse(cf, server, &value[1]);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_wxauth_redis_add_server(cf, wlcf, server, &password, db, liveness);
}


/*
 * wxauth_redis_sentinel MASTER_NAME ADDRESS... [password=] [sentinel_password=] [db=]
 *     [liveness=]
 */
static char *
ngx_http_wxauth_redis_sentinel(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_wxauth_loc_conf_t *wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(conf);

    char                             *rv;
    ngx_int_t                         db;
    ngx_str_t                        *value, password, sentinel_password;
    ngx_msec_t                        liveness;
    ngx_array_t                       addresses;
    ngx_http_wxauth_redis_server_t   *server;

    if (wlcf->redis != NGX_CONF_UNSET_PTR) {
        return ngx_http_wxauth_redis_conflict(wlcf->redis, NGX_HTTP_WXAUTH_REDIS_SENTINEL);
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (ngx_array_init(&addresses, cf->temp_pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (ngx_http_wxauth_redis_options(cf, value, 2, &addresses, &password, &sentinel_password,
                                      &db, &liveness)
        != NGX_CONF_OK)
    {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (addresses.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"wxauth_redis_sentinel\" needs at least one sentinel address");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    /* its own connections per worker: never shared with another directive's */

    server = static_cast<ngx_http_wxauth_redis_server_t *>(
                 ngx_pcalloc(cf->pool, sizeof(ngx_http_wxauth_redis_server_t)));
    if (server == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    rv = ngx_http_wxauth_sentinel_parse(cf, server, &value[1],
                                        static_cast<ngx_str_t *>(addresses.elts),
                                        addresses.nelts, &sentinel_password);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_wxauth_redis_add_server(cf, wlcf, server, &password, db, liveness);
}


/* wxauth_redis_cluster ADDRESS... [password=] [liveness=] */
static char *
ngx_http_wxauth_redis_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_wxauth_loc_conf_t *wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(conf);

    char                             *rv;
    ngx_str_t                        *value, password;
    ngx_msec_t                        liveness;
    ngx_array_t                       addresses;
    ngx_http_wxauth_redis_server_t   *server;

    if (wlcf->redis != NGX_CONF_UNSET_PTR) {
        return ngx_http_wxauth_redis_conflict(wlcf->redis, NGX_HTTP_WXAUTH_REDIS_CLUSTER);
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (ngx_array_init(&addresses, cf->temp_pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (ngx_http_wxauth_redis_options(cf, value, 1, &addresses, &password, NULL, NULL,
                                      &liveness)
        != NGX_CONF_OK)
    {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (addresses.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"wxauth_redis_cluster\" needs at least one node address");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    /* its own connections per worker and node: never shared with another directive's */

    server = static_cast<ngx_http_wxauth_redis_server_t *>(
                 ngx_pcalloc(cf->pool, sizeof(ngx_http_wxauth_redis_server_t)));
    if (server == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    rv = ngx_http_wxauth_cluster_parse(cf, server, static_cast<ngx_str_t *>(addresses.elts),
                                       addresses.nelts);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_wxauth_redis_add_server(cf, wlcf, server, &password, 0, liveness);
}


/* wxauth_login_replicas N [TIMEOUT] | off */
static char *
ngx_http_wxauth_login_replicas(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_wxauth_loc_conf_t *wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(conf);

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_msec_t   wait;

    if (wlcf->login_replicas != NGX_CONF_UNSET_UINT) {
        return const_cast<char *>("is duplicate");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (cf->args->nelts == 2 && value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        wlcf->login_replicas = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n < 1 || n > 100) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of replicas \"%V\" in \"wxauth_login_replicas\", "
                           "expected 1 to 100 or \"off\"", &value[1]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    wlcf->login_replicas = (ngx_uint_t) n;

    if (cf->args->nelts == 3) {
        wait = ngx_parse_time(&value[2], 0);

        if (wait == (ngx_msec_t) NGX_ERROR || wait == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid timeout \"%V\" in \"wxauth_login_replicas\": "
                               "a positive time is expected (WAIT 0 would wait forever)",
                               &value[2]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        wlcf->login_replicas_wait = wait;
    }

    return NGX_CONF_OK;
}


/* wxauth_login, wxauth_logout, wxauth_verify_signature, wxauth_decrypt, wxauth_metrics */
static char *
ngx_http_wxauth_set_content_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_wxauth_loc_conf_t *wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(conf);

    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_wxauth_handler_kind_t  *kind;

    if (wlcf->handler != NGX_HTTP_WXAUTH_HANDLER_NONE) {
        return const_cast<char *>("is duplicate, or another wxauth handler is set here");
    }

    kind = static_cast<ngx_http_wxauth_handler_kind_t *>(cmd->post);

    wlcf->handler = kind->kind;
    wlcf->handler_line = cf->conf_file->line;
    wlcf->handler_file = cf->conf_file->file.name;

    clcf = static_cast<ngx_http_core_loc_conf_t *>(
               ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = kind->handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_wxauth_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_wxauth_loc_conf_t *wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(conf);

    u_char           *buf, *p, *last;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value, name;
    ngx_file_info_t   fi;

    if (wlcf->secret.data) {
        return const_cast<char *>("is duplicate, or \"wxauth_secret\" is set already");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    /* read while the configuration is loaded, in the master: never in a worker */

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"wxauth_secret_file\": " ngx_open_file_n " \"%s\" failed",
                           name.data);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR || ngx_file_size(&fi) > 4096) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"wxauth_secret_file\": \"%s\" is unreadable or larger than 4096 "
                           "bytes", name.data);
        ngx_close_file(fd);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    buf = static_cast<u_char *>(ngx_pnalloc(cf->pool, 4097));
    if (buf == NULL) {
        ngx_close_file(fd);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    n = ngx_read_fd(fd, buf, 4096);
    ngx_close_file(fd);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"wxauth_secret_file\": " ngx_read_fd_n " \"%s\" failed",
                           name.data);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    /* the secret is the first line, surrounding white space removed */

    p = buf;
    last = buf + n;

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }

    u_char *end = p;
    while (end < last && *end != '\r' && *end != '\n') {
        end++;
    }

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (end == p) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"wxauth_secret_file\": \"%s\" is empty",
                           name.data);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    wlcf->secret.data = p;
    wlcf->secret.len = end - p;

    return NGX_CONF_OK;
}


static char *
ngx_http_wxauth_code2session(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (value[1].len == 0 || value[1].data[0] != '/' || ngx_strlchr(value[1].data,
        value[1].data + value[1].len, '?') != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"wxauth_code2session\" takes a location URI such as "
                           "/_wxauth/jscode2session, without arguments, not \"%V\"",
                           &value[1]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    return ngx_conf_set_str_slot(cf, cmd, conf);
}


/*
 * wxauth_allowed_apps APPID...: every argument is an app (ngx_conf_set_str_array_slot would keep
 * the first one only); the directive may also be repeated, the lists add up.
 */
static char *
ngx_http_wxauth_allowed_apps(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_wxauth_loc_conf_t *wlcf = static_cast<ngx_http_wxauth_loc_conf_t *>(conf);

    ngx_str_t   *value, *app;
    ngx_uint_t   i;

    if (wlcf->allowed_apps == NGX_CONF_UNSET_PTR) {
        wlcf->allowed_apps = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (wlcf->allowed_apps == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    for (i = 1; i < cf->args->nelts; i++) {
        app = static_cast<ngx_str_t *>(ngx_array_push(wlcf->allowed_apps));
        if (app == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        *app = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_wxauth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = static_cast<ngx_http_core_main_conf_t *>(
               ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));

    h = static_cast<ngx_http_handler_pt *>(
            ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_wxauth_access_handler;

    if (ngx_http_wxauth_refusal_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_wxauth_metrics_init_zone(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_wxauth_init_process(ngx_cycle_t *cycle)
{
    ngx_http_wxauth_main_conf_t  *wmcf;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
        return NGX_OK;
    }

    wmcf = static_cast<ngx_http_wxauth_main_conf_t *>(
               ngx_http_cycle_get_module_main_conf(cycle, ngx_http_wxauth_module));

    if (wmcf == NULL || wmcf->servers.nelts == 0) {
        return NGX_OK;
    }

    return ngx_http_wxauth_redis_init_worker(cycle, &wmcf->servers);
}


static void
ngx_http_wxauth_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_wxauth_main_conf_t  *wmcf;

    wmcf = static_cast<ngx_http_wxauth_main_conf_t *>(
               ngx_http_cycle_get_module_main_conf(cycle, ngx_http_wxauth_module));

    if (wmcf != NULL) {
        ngx_http_wxauth_redis_exit_worker(&wmcf->servers);
    }
}
