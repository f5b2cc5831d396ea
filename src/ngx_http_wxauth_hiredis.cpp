/*
 * hiredis's async API on nginx's event loop. Answers to the known traps:
 *  - edge-triggered reads: the read handler drains the socket (hiredis reads at most 16 KB a
 *    pass), so no reply is left sitting in the kernel buffer, and a close that came with the
 *    last reply (no unread byte, no further edge) is peeked for;
 *  - a command queued after the writable edge was consumed: addWrite posts the write event,
 *    so the output buffer is flushed in this event loop iteration, pipelined with its
 *    neighbours; a full socket waits for its event instead of spinning on posts;
 *  - hiredis closes the fd itself: the cleanup hook frees the nginx connection without
 *    closing it, and may run more than once.
 */

#include "ngx_http_wxauth_hiredis.h"

#include <sys/ioctl.h>
#include <sys/socket.h>


/* edge-triggered where the event method has it (epoll), level-triggered elsewhere */
static ngx_uint_t
ngx_http_wxauth_hiredis_event_flags(void)
{
    return (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? (ngx_uint_t) NGX_CLEAR_EVENT
                                                   : (ngx_uint_t) NGX_LEVEL_EVENT;
}


static void
ngx_http_wxauth_hiredis_read_handler(ngx_event_t *rev)
{
    int                         fd, n;
    ngx_connection_t           *c;
    ngx_http_wxauth_hiredis_t  *h;

    c = static_cast<ngx_connection_t *>(rev->data);
    h = static_cast<ngx_http_wxauth_hiredis_t *>(c->data);
    fd = c->fd;

    for ( ;; ) {
        if (h->ac == NULL) {
            return;
        }

        redisAsyncHandleRead(h->ac);

        if (h->ac == NULL || h->c != c) {
            return;
        }

        n = 0;
        if (ioctl(fd, FIONREAD, &n) == -1) {
            return;
        }

        if (n <= 0) {
            /* a close that came with the last reply: let hiredis read the end of the stream */
            u_char  b;

            if (recv(fd, &b, 1, MSG_PEEK|MSG_DONTWAIT) != 0) {
                return;
            }
        }
    }
}


static void
ngx_http_wxauth_hiredis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t           *c;
    ngx_http_wxauth_hiredis_t  *h;

    c = static_cast<ngx_connection_t *>(wev->data);
    h = static_cast<ngx_http_wxauth_hiredis_t *>(c->data);

    if (h->ac == NULL) {
        return;
    }

    redisAsyncHandleWrite(h->ac);

    if (h->ac == NULL || h->c != c) {
        return;
    }

    if (sdslen(h->ac->c.obuf) > 0) {
        /* the socket is full: wait for the next writable event, never spin on posts */
        wev->ready = 0;
        return;
    }

    if (!(ngx_event_flags & NGX_USE_CLEAR_EVENT) && wev->active) {
        (void) ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_http_wxauth_hiredis_add_read(void *privdata)
{
    ngx_http_wxauth_hiredis_t  *h = static_cast<ngx_http_wxauth_hiredis_t *>(privdata);

    if (h->c == NULL || h->c->read->active) {
        return;
    }

    if (ngx_add_event(h->c->read, NGX_READ_EVENT, ngx_http_wxauth_hiredis_event_flags())
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, h->log, 0, "wxauth: could not watch %s %V for reading",
                      h->kind, h->name);
    }
}


void
ngx_http_wxauth_hiredis_add_write(void *privdata)
{
    ngx_event_t                *wev;
    ngx_http_wxauth_hiredis_t  *h = static_cast<ngx_http_wxauth_hiredis_t *>(privdata);

    if (h->c == NULL) {
        return;
    }

    wev = h->c->write;

    if (!wev->active) {
        if (ngx_add_event(wev, NGX_WRITE_EVENT, ngx_http_wxauth_hiredis_event_flags())
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, h->log, 0,
                          "wxauth: could not watch %s %V for writing", h->kind, h->name);
        }
    }

    /*
     * An edge-triggered writable event may have been consumed already: while the socket is
     * known to be writable, flush in this iteration of the event loop, together with whatever
     * else is queued by then. When it is full, the next writable event does it.
     */
    if (h->ac != NULL && (h->ac->c.flags & REDIS_CONNECTED) && wev->ready && !wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


/* reads stay watched for the life of the connection; the write handler unwatches level writes */
static void
ngx_http_wxauth_hiredis_del_event(void *privdata)
{
    (void) privdata;
}


static void
ngx_http_wxauth_hiredis_cleanup(void *privdata)
{
    ngx_connection_t           *c;
    ngx_http_wxauth_hiredis_t  *h = static_cast<ngx_http_wxauth_hiredis_t *>(privdata);

    c = h->c;

    if (c == NULL) {
        return;   /* hiredis may call this more than once */
    }

    h->c = NULL;

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /* hiredis closes the fd itself right after: the kernel forgets it then */
    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    h->ac = NULL;

    if (h->gone) {
        h->gone(h);
    }
}


ngx_int_t
ngx_http_wxauth_hiredis_attach(ngx_http_wxauth_hiredis_t *h, redisAsyncContext *ac)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, h->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = h;
    c->read->handler = ngx_http_wxauth_hiredis_read_handler;
    c->write->handler = ngx_http_wxauth_hiredis_write_handler;
    c->read->log = h->log;
    c->write->log = h->log;

    h->ac = ac;
    h->c = c;

    ac->ev.data = h;
    ac->ev.addRead = ngx_http_wxauth_hiredis_add_read;
    ac->ev.delRead = ngx_http_wxauth_hiredis_del_event;
    ac->ev.addWrite = ngx_http_wxauth_hiredis_add_write;
    ac->ev.delWrite = ngx_http_wxauth_hiredis_del_event;
    ac->ev.cleanup = ngx_http_wxauth_hiredis_cleanup;

    ngx_http_wxauth_hiredis_add_read(h);

    return NGX_OK;
}
