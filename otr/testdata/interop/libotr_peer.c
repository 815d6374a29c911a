/* libotr_peer: a line-oriented OTR peer on libotr 4.x for the interop tests
 * of package otr (same pipe protocol as potr_peer.py).
 *
 * usage: libotr_peer KEYFILE ACCOUNT PROTOCOL SMPSECRET v2|v3|v23
 * stdin:  one JSON string per line: an OTR line, or !query, !send TEXT,
 *         !smp SECRET, !smpq QUESTION<TAB>SECRET, !end
 * stdout: MSG <json>, PLAIN <json>, EV <text>, ERR <text> lines, then END.
 * The peer is always "juliet@capulet.lit/balcony". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libotr/proto.h>
#include <libotr/message.h>
#include <libotr/privkey.h>
#include <libotr/instag.h>

#define PEER "juliet@capulet.lit/balcony"

static OtrlUserState us;
static OtrlPolicy pol = OTRL_POLICY_ALLOW_V2 | OTRL_POLICY_ALLOW_V3;
static const char *account, *protocol, *secret = "";
static int asked;
static OtrlMessageAppOps ops;

static void put_json(const char *kind, const char *s) {
    printf("%s \"", kind);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    printf("\"\n");
}

/* Decodes the JSON string on line (Go's encoder escapes <, >, & as \u00XX). */
static char *get_json(const char *line) {
    const char *in = strchr(line, '"');
    char *o, *buf;
    if (!in) return NULL;
    buf = o = malloc(strlen(in) * 4 + 1);
    for (in++; *in && *in != '"'; ) {
        if (*in != '\\') { *o++ = *in++; continue; }
        in++;
        switch (*in) {
        case 'n': *o++ = '\n'; in++; break;
        case 't': *o++ = '\t'; in++; break;
        case 'r': *o++ = '\r'; in++; break;
        case 'b': *o++ = '\b'; in++; break;
        case 'f': *o++ = '\f'; in++; break;
        case 'u': {
            unsigned int cp = 0;
            if (sscanf(in + 1, "%4x", &cp) != 1) { free(buf); return NULL; }
            in += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF && in[0] == '\\' && in[1] == 'u') {
                unsigned int lo = 0;
                sscanf(in + 2, "%4x", &lo);
                in += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp < 0x80) *o++ = cp;
            else if (cp < 0x800) { *o++ = 0xC0 | (cp >> 6); *o++ = 0x80 | (cp & 0x3F); }
            else if (cp < 0x10000) { *o++ = 0xE0 | (cp >> 12); *o++ = 0x80 | ((cp >> 6) & 0x3F); *o++ = 0x80 | (cp & 0x3F); }
            else { *o++ = 0xF0 | (cp >> 18); *o++ = 0x80 | ((cp >> 12) & 0x3F); *o++ = 0x80 | ((cp >> 6) & 0x3F); *o++ = 0x80 | (cp & 0x3F); }
            break; }
        default: *o++ = *in++;
        }
    }
    *o = 0;
    return buf;
}

static OtrlPolicy op_policy(void *d, ConnContext *c) { return pol; }
static int op_logged_in(void *d, const char *a, const char *p, const char *r) { return 1; }
static void op_inject(void *d, const char *a, const char *p, const char *r, const char *m) { put_json("MSG", m); }
static void op_new_fp(void *d, OtrlUserState u, const char *a, const char *p, const char *user, unsigned char fp[20]) {
    printf("EV FP theirs ");
    for (int i = 0; i < 20; i++) printf("%02X", fp[i]);
    printf("\n");
}
static void op_gone_secure(void *d, ConnContext *c) { printf("EV GoneSecure v%d\n", c->protocol_version); }
static void op_gone_insecure(void *d, ConnContext *c) { printf("EV GoneInsecure\n"); }
static void op_still_secure(void *d, ConnContext *c, int r) { printf("EV StillSecure\n"); }
static int op_mms(void *d, ConnContext *c) { return 0; }
static const char *op_errmsg(void *d, ConnContext *c, OtrlErrorCode e) { return strdup("libotr_peer error"); }
static void op_errmsg_free(void *d, const char *m) { free((void *)m); }
static void op_smp(void *d, OtrlSMPEvent e, ConnContext *c, unsigned short pct, char *q) {
    static const char *names[] = {"NONE", "ERROR", "ABORT", "CHEATED", "ASK_FOR_ANSWER",
                                  "ASK_FOR_SECRET", "IN_PROGRESS", "SUCCESS", "FAILURE"};
    printf("EV SMP %s %u", e <= 8 ? names[e] : "?", pct);
    if (q) printf(" %s", q);
    printf("\n");
    if (e == OTRL_SMPEVENT_ASK_FOR_SECRET || e == OTRL_SMPEVENT_ASK_FOR_ANSWER) asked = 1;
    if (e == OTRL_SMPEVENT_CHEATED || e == OTRL_SMPEVENT_ERROR) otrl_message_abort_smp(us, &ops, NULL, c);
}
static void op_msg_event(void *d, OtrlMessageEvent e, ConnContext *c, const char *m, gcry_error_t err) {
    printf("EV MSGEV %d\n", (int)e);
}
static void op_create_instag(void *d, const char *a, const char *p) {
    FILE *f = tmpfile();
    otrl_instag_generate_FILEp(us, f, a, p);
    fclose(f);
}

static ConnContext *ctx(void) {
    return otrl_context_find(us, PEER, account, protocol, OTRL_INSTAG_BEST, 0, NULL, NULL, NULL);
}

int main(int argc, char **argv) {
    char fp[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
    static char line[1 << 21];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 6) { fprintf(stderr, "usage: %s KEYFILE ACCOUNT PROTOCOL SMPSECRET v2|v3|v23\n", argv[0]); return 2; }
    account = argv[2]; protocol = argv[3]; secret = argv[4];
    pol = (strchr(argv[5], '2') ? OTRL_POLICY_ALLOW_V2 : 0) | (strchr(argv[5], '3') ? OTRL_POLICY_ALLOW_V3 : 0);
    pol |= OTRL_POLICY_WHITESPACE_START_AKE | OTRL_POLICY_ERROR_START_AKE;
    ops.policy = op_policy; ops.is_logged_in = op_logged_in; ops.inject_message = op_inject;
    ops.new_fingerprint = op_new_fp; ops.gone_secure = op_gone_secure;
    ops.gone_insecure = op_gone_insecure; ops.still_secure = op_still_secure;
    ops.max_message_size = op_mms; ops.otr_error_message = op_errmsg;
    ops.otr_error_message_free = op_errmsg_free; ops.handle_smp_event = op_smp;
    ops.handle_msg_event = op_msg_event; ops.create_instag = op_create_instag;

    OTRL_INIT;
    us = otrl_userstate_create();
    if (otrl_privkey_read(us, argv[1])) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    if (!otrl_privkey_fingerprint(us, fp, account, protocol)) { fprintf(stderr, "no key for %s/%s\n", account, protocol); return 1; }
    printf("EV FP ours ");
    for (char *p = fp; *p; p++) if (*p != ' ') putchar(*p);
    printf("\nEND\n");

    while (fgets(line, sizeof line, stdin)) {
        char *msg = get_json(line), *out = NULL;
        OtrlTLV *tlvs = NULL;
        if (!msg) { printf("ERR bad line\nEND\n"); continue; }
        if (!strncmp(msg, "!send ", 6)) {
            gcry_error_t e = otrl_message_sending(us, &ops, NULL, account, protocol, PEER,
                OTRL_INSTAG_BEST, msg + 6, NULL, &out, OTRL_FRAGMENT_SEND_SKIP, NULL, NULL, NULL);
            if (e) printf("ERR sending failed\n");
            else put_json("MSG", out ? out : msg + 6);
            otrl_message_free(out);
        } else if (!strncmp(msg, "!smpq ", 6)) {
            char *tab = strchr(msg + 6, '\t');
            if (tab) {
                *tab = 0;
                otrl_message_initiate_smp_q(us, &ops, NULL, ctx(), msg + 6, (unsigned char *)tab + 1, strlen(tab + 1));
            }
        } else if (!strncmp(msg, "!smp ", 5)) {
            otrl_message_initiate_smp(us, &ops, NULL, ctx(), (unsigned char *)msg + 5, strlen(msg + 5));
        } else if (!strcmp(msg, "!query")) {
            char *q = otrl_proto_default_query_msg(account, pol);
            put_json("MSG", q);
            free(q);
        } else if (!strcmp(msg, "!end")) {
            otrl_message_disconnect_all_instances(us, &ops, NULL, account, protocol, PEER);
        } else {
            ConnContext *c = NULL;
            int ignore = otrl_message_receiving(us, &ops, NULL, account, protocol, PEER, msg, &out, &tlvs, &c, NULL, NULL);
            if (!ignore) put_json("PLAIN", out ? out : msg);
            if (tlvs && otrl_tlv_find(tlvs, OTRL_TLV_DISCONNECTED)) printf("EV PeerEnded\n");
            otrl_tlv_free(tlvs);
            otrl_message_free(out);
            if (asked && c) {
                asked = 0;
                otrl_message_respond_smp(us, &ops, NULL, c, (const unsigned char *)secret, strlen(secret));
            }
        }
        if (ctx() && ctx()->msgstate == OTRL_MSGSTATE_ENCRYPTED) printf("EV STATE encrypted v%d\n", ctx()->protocol_version);
        if (ctx() && ctx()->msgstate == OTRL_MSGSTATE_FINISHED) printf("EV STATE finished\n");
        free(msg);
        printf("END\n");
    }
    return 0;
}
