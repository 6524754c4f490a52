/* policy.c -- the policy table, the dispatch of the policy ops, and plain LRU. */
#include "policy.h"

#include <string.h>

/*** LRU: one segment (the window), evict its tail; every other op is the default ***/

static int dp_lru_policy_init(dp_policy_t *p, size_t n_slots) {
    (void)n_slots;
    p->seg_max[DP_SEG_WINDOW] = p->cap;
    return DP_OK;
}

static int dp_lru_policy_check(const dp_policy_t *p, const dp_slots_t *s) {
    (void)p;
    return s->seg_len[DP_SEG_WINDOW] == s->len ? DP_OK : DP_ECORRUPT;
}

static const dp_policy_ops_t dp_lru_policy_ops = {
    .name = "lru",
    .init = dp_lru_policy_init,
    .check = dp_lru_policy_check,
};

/*** The table: index = kind (DP_POLICY_*). A policy is one file in csrc/policies/ defining
 * `dp_<name>_ops` (setup.py compiles every file there) and one entry here; lru is above. ***/

#define DP_POLICY_TABLE(X) X(tinylfu) X(sieve)

#define DP_POLICY_DECLARE(name) extern const dp_policy_ops_t dp_##name##_ops;
DP_POLICY_TABLE(DP_POLICY_DECLARE)
#define DP_POLICY_ENTRY(name) &dp_##name##_ops,
static const dp_policy_ops_t *const dp_policies[] = {&dp_lru_policy_ops, DP_POLICY_TABLE(DP_POLICY_ENTRY)};
#define DP_N_POLICIES ((int)(sizeof(dp_policies) / sizeof(dp_policies[0])))

int dp_policy_count(void) { return DP_N_POLICIES; }

const char *dp_policy_name(int kind) {
    return kind >= 0 && kind < DP_N_POLICIES ? dp_policies[kind]->name : NULL;
}

int dp_policy_find(const char *name) {
    for (int k = 0; k < DP_N_POLICIES; k++)
        if (strcmp(dp_policies[k]->name, name) == 0) return k;
    return -1;
}

/*** Dispatch ***/

int dp_policy_init(dp_policy_t *p, int kind, size_t cap, size_t n_slots) {
    memset(p, 0, sizeof(*p));
    if (kind < 0 || kind >= DP_N_POLICIES || cap == 0) return DP_EINVAL;
    p->ops = dp_policies[kind];
    p->kind = kind;
    p->cap = cap;
    const int rc = p->ops->init(p, n_slots);
    if (rc != DP_OK) dp_policy_free(p);
    return rc;
}

void dp_policy_free(dp_policy_t *p) {
    if (p->ops && p->ops->free) p->ops->free(p);
    memset(p, 0, sizeof(*p));
}

void dp_policy_clear(dp_policy_t *p) {
    if (p->ops->clear) p->ops->clear(p);
}

int dp_policy_reserve(dp_policy_t *p, size_t n_slots) {
    return p->ops->reserve ? p->ops->reserve(p, n_slots) : DP_OK;
}

void dp_policy_rebalance(dp_policy_t *p, dp_slots_t *s) {
    if (p->ops->rebalance) p->ops->rebalance(p, s);
}

void dp_policy_recap(dp_policy_t *p, dp_slots_t *s, size_t cap) {
    if (p->ops->recap && cap >= 1 && cap <= s->cap) p->ops->recap(p, s, cap);
}

int dp_policy_check(const dp_policy_t *p, const dp_slots_t *s) {
    if (!p->ops || p->ops != dp_policies[p->kind] || p->cap < 1 || p->cap > s->cap ||
        (!p->ops->recap && p->cap != s->cap))
        return DP_ECORRUPT;
    if (p->reads ? p->n_reads >= p->reads_cap : p->n_reads != 0) return DP_ECORRUPT;
    if (p->reads ? !p->pending : p->n_pending_added != 0) return DP_ECORRUPT; /* see on_hit */
    return p->ops->check ? p->ops->check(p, s) : DP_OK;
}
