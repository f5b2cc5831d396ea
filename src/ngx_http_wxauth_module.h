/*
 * ngx_http_wxauth_module: WeChat mini-program login in front of any upstream.
 * Shared declarations of the nginx glue. The logic that needs no nginx lives in src/core/.
 */

#ifndef NGX_HTTP_WXAUTH_MODULE_H_INCLUDED_
#define NGX_HTTP_WXAUTH_MODULE_H_INCLUDED_

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}

#include "core/errors.h"


typedef struct ngx_http_wxauth_redis_server_s  ngx_http_wxauth_redis_server_t;
typedef struct ngx_http_wxauth_redis_batch_s   ngx_http_wxauth_redis_batch_t;


typedef struct {
    ngx_array_t                    servers;  /* ngx_http_wxauth_redis_server_t * */
} ngx_http_wxauth_main_conf_t;


typedef struct {
    ngx_http_wxauth_redis_server_t *redis;
    ngx_msec_t                      redis_timeout;
    ngx_str_t                       redis_prefix;
    time_t                          session_ttl;

    ngx_flag_t                      enable;
    ngx_http_complex_value_t       *token;

    ngx_flag_t                      login;
    ngx_str_t                       appid;
    ngx_str_t                       secret;
    ngx_str_t                       code2session;

    ngx_uint_t                      login_line;    /* where wxauth_login was set */
    ngx_str_t                       login_file;
} ngx_http_wxauth_loc_conf_t;


typedef enum {
    NGX_HTTP_WXAUTH_NEW = 0,
    NGX_HTTP_WXAUTH_WAITING,
    NGX_HTTP_WXAUTH_PASSED,
    NGX_HTTP_WXAUTH_FAILED
} ngx_http_wxauth_state_e;


typedef struct {
    ngx_http_wxauth_state_e         state;
    wxauth::Error                   error;
    ngx_int_t                       wx_errcode;
    unsigned                        has_wx_errcode:1;

    /* the caller's identity once a session check or a login succeeded */
    ngx_str_t                       openid;
    ngx_str_t                       unionid;
    ngx_str_t                       appid;

    ngx_http_wxauth_redis_batch_t  *pending;

    /* login */
    ngx_http_request_t             *sr;
    ngx_str_t                       token;
    ngx_int_t                       sr_rc;
    ngx_uint_t                      sr_status;
    ngx_str_t                       sr_body;
    ngx_uint_t                      saved_log_level;
    ngx_http_log_handler_pt         saved_log_handler;
    unsigned                        sr_done:1;
    unsigned                        log_hidden:1;
} ngx_http_wxauth_ctx_t;


extern ngx_module_t  ngx_http_wxauth_module;


/* ngx_http_wxauth_util.cpp */
ngx_http_wxauth_ctx_t *ngx_http_wxauth_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_wxauth_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const char *data, size_t len);
ngx_int_t ngx_http_wxauth_send_error(ngx_http_request_t *r, wxauth::Error err,
    ngx_int_t wx_errcode, ngx_flag_t has_wx_errcode);
ngx_int_t ngx_http_wxauth_copy_str(ngx_pool_t *pool, ngx_str_t *dst,
    const char *data, size_t len);
ngx_uint_t ngx_http_wxauth_error_log_level(wxauth::Error err);
void ngx_http_wxauth_hide_secret_in_log(ngx_http_request_t *r);
void ngx_http_wxauth_restore_log(ngx_http_request_t *r);

/* ngx_http_wxauth_session.cpp */
ngx_int_t ngx_http_wxauth_access_handler(ngx_http_request_t *r);

/* ngx_http_wxauth_login.cpp */
ngx_int_t ngx_http_wxauth_login_handler(ngx_http_request_t *r);


#endif /* NGX_HTTP_WXAUTH_MODULE_H_INCLUDED_ */
