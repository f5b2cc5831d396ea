/*
 * Metrics: one ngx_atomic_t per wxauth::Metric slot in the shared memory zone "wxauth_metrics",
 * allocated from the zone's slab pool (nginx writes the pool header at the start of every
 * zone). A reload with the same zone hands the old counters to the new cycle: they survive
 * `nginx -s reload`.
 *
 * Workers find the counters through their own cycle's zone list, cached per cycle: a pointer
 * set by the zone init alone would dangle in the master (and in workers it forks later) when a
 * reload that had just created the zone fails and nginx frees it.
 */

#include "ngx_http_wxauth_metrics.h"



static ngx_str_t  ngx_http_wxauth_metrics_zone_name = ngx_string("wxauth_metrics");

/* the counters of ngx_http_wxauth_metrics_cycle, NULL when that cycle has no zone */
static ngx_atomic_t          *ngx_http_wxauth_metrics_counters;
static volatile ngx_cycle_t  *ngx_http_wxauth_metrics_cycle;


static ngx_int_t
ngx_http_wxauth_metrics_init_shm(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t            size;
    ngx_slab_pool_t  *shpool;
    ngx_atomic_t     *counters;

    if (data) {
        /* reload: the same memory, the counters of the previous cycle */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = reinterpret_cast<ngx_slab_pool_t *>(shm_zone->shm.addr);

    if (shm_zone->shm.exists) {
        /* Windows: the zone of the master, attached by a worker */
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    size = wxauth::metric_slots * sizeof(ngx_atomic_t);

    counters = static_cast<ngx_atomic_t *>(ngx_slab_calloc(shpool, size));
    if (counters == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "wxauth: no room for %uz bytes of counters in shared zone \"%V\"",
                      size, &shm_zone->shm.name);
        return NGX_ERROR;
    }

    /* ngx_atomic_t is volatile: the zone keeps a plain pointer to the array */
    shpool->data = const_cast<ngx_atomic_uint_t *>(counters);
    shm_zone->data = const_cast<ngx_atomic_uint_t *>(counters);

    return NGX_OK;
}


ngx_int_t
ngx_http_wxauth_metrics_init_zone(ngx_conf_t *cf)
{
    size_t           size;
    ngx_shm_zone_t  *shm_zone;

    /*
     * nginx wants zones of 8 pages at least (the slab pool's header and page table come out of
     * them); add room for the counters. The size never changes, so reloads keep the zone.
     */
    size = 8 * ngx_pagesize
           + ngx_align(wxauth::metric_slots * sizeof(ngx_atomic_t), ngx_pagesize);

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_wxauth_metrics_zone_name, size,
                                     &ngx_http_wxauth_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_wxauth_metrics_init_shm;

    return NGX_OK;
}


/* The counters of the running cycle, or NULL. */
static ngx_atomic_t *
ngx_http_wxauth_metrics_slots(void)
{
    ngx_uint_t        i;
    ngx_cycle_t      *cycle;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;

    cycle = (ngx_cycle_t *) ngx_cycle;

    if (ngx_http_wxauth_metrics_cycle == cycle) {
        return ngx_http_wxauth_metrics_counters;
    }

    ngx_http_wxauth_metrics_counters = NULL;

    if (cycle != NULL) {
        part = &cycle->shared_memory.part;
        zone = static_cast<ngx_shm_zone_t *>(part->elts);

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                zone = static_cast<ngx_shm_zone_t *>(part->elts);
                i = 0;
            }

            if (zone[i].tag == &ngx_http_wxauth_module
                && zone[i].shm.name.len == ngx_http_wxauth_metrics_zone_name.len
                && ngx_strncmp(zone[i].shm.name.data, ngx_http_wxauth_metrics_zone_name.data,
                               ngx_http_wxauth_metrics_zone_name.len) == 0)
            {
                ngx_http_wxauth_metrics_counters = static_cast<ngx_atomic_t *>(zone[i].data);
                break;
            }
        }
    }

    ngx_http_wxauth_metrics_cycle = cycle;

    return ngx_http_wxauth_metrics_counters;
}


void
ngx_http_wxauth_metric_add(wxauth::Metric m, ngx_atomic_int_t delta)
{
    unsigned       slot;
    ngx_atomic_t  *counters;

    slot = static_cast<unsigned>(m);

    counters = ngx_http_wxauth_metrics_slots();
    if (counters == NULL || slot >= wxauth::metric_slots) {
        return;
    }

    (void) ngx_atomic_fetch_add(&counters[slot], (ngx_atomic_uint_t) delta);
}


void
ngx_http_wxauth_metric_inc(wxauth::Metric m)
{
    ngx_http_wxauth_metric_add(m, 1);
}


void
ngx_http_wxauth_metric_redis_latency(uint64_t micros)
{
    ngx_atomic_t  *counters;

    counters = ngx_http_wxauth_metrics_slots();
    if (counters == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(
        &counters[static_cast<unsigned>(wxauth::redis_latency_bucket(micros))], 1);
    (void) ngx_atomic_fetch_add(
        &counters[static_cast<unsigned>(wxauth::Metric::redis_latency_sum_us)],
        (ngx_atomic_uint_t) micros);
    (void) ngx_atomic_fetch_add(
        &counters[static_cast<unsigned>(wxauth::Metric::redis_latency_count)], 1);
}


bool
ngx_http_wxauth_metrics_snapshot(uint64_t *values)
{
    unsigned       i;
    ngx_atomic_t  *counters;

    counters = ngx_http_wxauth_metrics_slots();
    if (counters == NULL) {
        return false;
    }

    /* each counter is read atomically; the set is not a consistent snapshot */
    for (i = 0; i < wxauth::metric_slots; i++) {
        values[i] = counters[i];
    }

    return true;
}
