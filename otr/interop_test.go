package otr

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"mellium.im/xmpp/jid"
)

var updateTranscripts = flag.Bool("update-transcripts", false, "record testdata/transcripts/*.json from live runs against python3-potr and libotr")

// remote is an independent OTR implementation behind the line protocol of
// testdata/interop (potr_peer.py, libotr_peer.c).
type remote struct {
	t      testing.TB
	cmd    *exec.Cmd
	in     io.WriteCloser
	sc     *bufio.Scanner
	events []string
	plains []string
}

func startRemote(t testing.TB, env []string, argv ...string) *remote {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &remote{t: t, cmd: cmd, in: in, sc: bufio.NewScanner(out)}
	r.sc.Buffer(make([]byte, 4<<20), 4<<20)
	t.Cleanup(func() {
		in.Close()
		peers.Wait(cmd, 5*time.Second)
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s stderr:\n%s", argv[0], stderr.String())
		}
	})
	r.read()
	return r
}

// read collects one answer (up to END) and returns its MSG lines.
func (r *remote) read() (msgs []string) {
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "END" {
			return msgs
		}
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "MSG", "PLAIN":
			var s string
			if err := json.Unmarshal([]byte(rest), &s); err != nil {
				r.t.Fatalf("bad line from peer: %q", line)
			}
			if kind == "MSG" {
				msgs = append(msgs, s)
			} else {
				r.plains = append(r.plains, s)
			}
		default:
			r.events = append(r.events, line)
		}
	}
	r.t.Fatalf("peer exited: %v", r.sc.Err())
	return nil
}

func (r *remote) do(line string) []string {
	b, _ := json.Marshal(line)
	if _, err := r.in.Write(append(b, '\n')); err != nil {
		r.t.Fatalf("writing to peer: %v", err)
	}
	return r.read()
}

func (r *remote) has(sub string) bool {
	for _, e := range r.events {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

func (r *remote) last(prefix string) string {
	for i := len(r.events) - 1; i >= 0; i-- {
		if strings.HasPrefix(r.events[i], prefix) {
			return strings.TrimPrefix(r.events[i], prefix)
		}
	}
	return ""
}

// A transcript is a recorded interop run: what we did and what the peer
// sent, in order, with what came out. Replayed with the same fixture key,
// options and seed, our side draws the same DH keys, so the peer's recorded
// messages fit again (only our DSA signatures differ: crypto/dsa ignores
// custom randomness since Go 1.26, and nothing the peer sent depends on them).
type transcript struct {
	Peer         string   `json:"peer"`
	Command      string   `json:"command"`
	V2Only       bool     `json:"v2only,omitempty"`
	FragmentSize int      `json:"fragment_size,omitempty"`
	Seed         int64    `json:"seed"`
	Ops          []op     `json:"ops"`
	Opened       []string `json:"opened"`
	Version      int      `json:"version"`
	PeerFP       string   `json:"peer_fingerprint"`
}

type op struct {
	Op       string `json:"op"` // in, encrypt, startsmp, answersmp, smp (check), close, end
	Body     string `json:"body,omitempty"`
	Question string `json:"question,omitempty"`
}

const ourSeed = 20261122

// link runs our Session (juliet) against a remote (romeo).
type link struct {
	t      testing.TB
	s      *Session
	rem    *remote
	tr     *transcript
	secret string // our answer to the peer's SMP
	opened []string
	errs   []error
}

var remoteJID = jid.MustParse("romeo@montague.lit/orchard")

func newLink(t testing.TB, o Options, tr *transcript) *link {
	tr.V2Only, tr.FragmentSize, tr.Seed = o.V2Only, o.FragmentSize, ourSeed
	s, err := New(o).Open(e2e.Config{
		Local: fixture(t, "juliet@capulet.lit"), JID: julietJID,
		Rand: rand.New(rand.NewSource(ourSeed)), Clock: e2etest.Clock(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &link{t: t, s: s, tr: tr}
}

func (l *link) record(o op) { l.tr.Ops = append(l.tr.Ops, o) }

func (l *link) toRemote(sts []*e2e.Stanza) {
	for _, st := range sts {
		if l.rem != nil {
			l.fromRemote(l.rem.do(st.Body()))
		}
	}
}

func (l *link) fromRemote(msgs []string) {
	for _, m := range msgs {
		l.record(op{Op: "in", Body: m})
		res, err := l.s.Receive(context.Background(), msg(remoteJID, julietJID, "", m))
		if err != nil {
			l.errs = append(l.errs, err)
		}
		for _, o := range res.Opened {
			l.opened = append(l.opened, o.Stanza.Body())
		}
		l.toRemote(res.Replies)
		if l.s.SMP(remoteJID).State == SMPAsked && l.secret != "" {
			l.record(op{Op: "answersmp", Body: l.secret})
			ws, err := l.s.AnswerSMP(context.Background(), remoteJID, l.secret)
			if err != nil {
				l.t.Fatal(err)
			}
			l.toRemote(ws)
		}
	}
}

func (l *link) encrypt(text string) {
	l.record(op{Op: "encrypt", Body: text})
	ws, err := l.s.Encrypt(context.Background(), msg(julietJID, remoteJID, "", text))
	if err != nil {
		l.t.Fatalf("Encrypt: %v", err)
	}
	l.toRemote(ws)
}

func (l *link) startSMP(q, secret string) {
	l.record(op{Op: "startsmp", Question: q, Body: secret})
	ws, err := l.s.StartSMP(context.Background(), remoteJID, q, secret)
	if err != nil {
		l.t.Fatalf("StartSMP: %v", err)
	}
	l.toRemote(ws)
}

// smp checks our SMP state and records the check for the replay.
func (l *link) smp(want SMPState) {
	l.t.Helper()
	l.record(op{Op: "smp", Body: want.String()})
	if got := l.s.SMP(remoteJID).State; got != want {
		l.t.Fatalf("our SMP state %v, want %v", got, want)
	}
}

func (l *link) close() {
	l.record(op{Op: "close"})
	ws, err := l.s.Close(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	l.toRemote(ws)
}

func (l *link) remoteCmd(c string) { l.fromRemote(l.rem.do(c)) }

// fingerprintsAgree checks that both sides see each other's fingerprint as
// the other reports its own, records the version and the peer's
// fingerprint, and returns it.
func (l *link) fingerprintsAgree(version int) string {
	l.t.Helper()
	pk, ok := l.s.PeerKey(remoteJID)
	if !ok {
		l.t.Fatal("no private conversation")
	}
	flat := func(fp string) string { return strings.ToLower(strings.ReplaceAll(fp, " ", "")) }
	if want := flat(l.rem.last("EV FP ours ")); flat(pk.Fingerprint()) != want {
		l.t.Fatalf("we see the peer's fingerprint as %s, it has %s", pk.Fingerprint(), want)
	}
	if got := flat(l.rem.last("EV FP theirs ")); got != flat(l.s.Fingerprint()) {
		l.t.Fatalf("the peer sees our fingerprint as %s, want %s", got, l.s.Fingerprint())
	}
	if v := l.s.Version(remoteJID); v != version {
		l.t.Fatalf("OTR version %d, want %d", v, version)
	}
	l.tr.Version, l.tr.PeerFP = version, pk.Fingerprint()
	return pk.Fingerprint()
}

// remoteEnds has the peer end the conversation: we must be FINISHED and
// refuse to send, with no error on the way.
func (l *link) remoteEnds() {
	l.t.Helper()
	l.remoteCmd("!end")
	if _, err := l.s.Encrypt(context.Background(), msg(julietJID, remoteJID, "", "late")); !errors.Is(err, ErrFinished) {
		l.t.Fatalf("Encrypt after the peer ended: %v", err)
	}
	l.record(op{Op: "end"})
	if len(l.errs) > 0 {
		l.t.Fatalf("errors: %v", l.errs)
	}
}

func (l *link) wantOpened(text string) {
	l.t.Helper()
	if len(l.opened) == 0 || l.opened[len(l.opened)-1] != text {
		l.t.Fatalf("we opened %q, want last %q (errors %v)", l.opened, text, l.errs)
	}
}

func (l *link) wantRemotePlain(text string) {
	l.t.Helper()
	p := l.rem.plains
	if len(p) == 0 || p[len(p)-1] != text {
		l.t.Fatalf("peer decrypted %q, want last %q (events %v)", p, text, l.rem.events)
	}
}

func (l *link) finish(name string) {
	l.t.Helper()
	l.tr.Opened = l.opened
	if *updateTranscripts {
		b, err := json.MarshalIndent(l.tr, "", " ")
		if err != nil {
			l.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "transcripts", name+".json"), append(b, '\n'), 0o644); err != nil {
			l.t.Fatal(err)
		}
	}
}

func potrPeer(t *testing.T, env ...string) *remote {
	py := peers.PythonModule(t, "potr")
	return startRemote(t, env, py, filepath.Join("testdata", "interop", "potr_peer.py"), "correct horse")
}

const htmlText = "hello <b>&amp;</b> ünïcødé ☃"

func TestPotrInteropPotrStarts(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	tr := &transcript{Peer: "python3-potr 1.0.2 (Debian, patched at run time by potr_peer.py)", Command: "/usr/bin/python3 testdata/interop/potr_peer.py 'correct horse'"}
	l := newLink(t, Options{}, tr)
	l.rem = potrPeer(t)
	l.secret = "correct horse"
	l.remoteCmd("!query")
	if !l.s.Encrypted(remoteJID) || l.s.Version(remoteJID) != 2 || !l.rem.has("STATE encrypted") {
		t.Fatalf("AKE with potr: encrypted=%v version=%d events=%v errs=%v", l.s.Encrypted(remoteJID), l.s.Version(remoteJID), l.rem.events, l.errs)
	}
	l.fingerprintsAgree(2)
	l.remoteCmd("!send " + htmlText)
	l.wantOpened(htmlText)
	l.encrypt("hello potr " + htmlText)
	l.wantRemotePlain("hello potr " + htmlText)

	// SMP, potr asks (no question): both succeed
	l.remoteCmd("!smp correct horse")
	l.smp(SMPSucceeded)
	if !l.rem.has("SMP result succeeded") {
		t.Fatalf("potr SMP: %v", l.rem.events)
	}
	// SMP, potr asks with a question
	l.remoteCmd("!smpq which horse?\tcorrect horse")
	l.smp(SMPSucceeded)
	if q := l.s.SMP(remoteJID).Question; q != "which horse?" || !l.rem.has("SMP result succeeded") {
		t.Fatalf("SMP with question from potr: question %q, events %v", q, l.rem.events)
	}
	// SMP, we ask with a question, potr answers right
	l.startSMP("which horse?", "correct horse")
	l.smp(SMPSucceeded)
	if !l.rem.has(`SMP asked "which horse?"`) {
		t.Fatalf("potr did not get the question: %v", l.rem.events)
	}
	// SMP mismatch: failure on both sides
	l.rem.events = nil
	l.startSMP("", "wrong horse")
	l.smp(SMPFailed)
	if !l.rem.has("SMP result failed") {
		t.Fatalf("potr SMP mismatch: %v", l.rem.events)
	}
	// potr ends: we are FINISHED and cannot send
	l.remoteEnds()
	l.finish("potr-v2-potr-starts")
}

func TestPotrInteropWeStartFragments(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	tr := &transcript{Peer: "python3-potr 1.0.2", Command: "POTR_MMS=120 /usr/bin/python3 testdata/interop/potr_peer.py 'correct horse'"}
	l := newLink(t, Options{FragmentSize: 100}, tr)
	l.rem = potrPeer(t, "POTR_MMS=120")
	l.secret = "correct horse"
	long := strings.Repeat("fragmented ", 60)
	l.encrypt(long) // queued; the query goes out, the AKE runs, the message follows
	l.wantRemotePlain(long)
	l.fingerprintsAgree(2)
	l.remoteCmd("!send " + long + "from potr")
	l.wantOpened(long + "from potr")
	if n := len(l.tr.Ops); n < 10 {
		t.Fatalf("only %d ops: potr did not fragment?", n)
	}
	l.close()
	if !l.rem.has("PeerEnded") && !l.rem.has("STATE finished") {
		t.Fatalf("potr did not see the disconnect: %v", l.rem.events)
	}
	if len(l.errs) > 0 {
		t.Fatalf("errors: %v", l.errs)
	}
	l.finish("potr-v2-we-start-fragments")
}

// buildLibotrPeer compiles testdata/interop/libotr_peer.c against libotr5-dev.
func buildLibotrPeer(t testing.TB) string {
	cc := peers.Command(t, "cc")
	pc := peers.Command(t, "pkg-config")
	peers.File(t, "/usr/include/libotr/proto.h", "libotr5-dev headers")
	flags, err := exec.Command(pc, "--cflags", "--libs", "libotr").Output()
	if err != nil {
		peers.Missing(t, "pkg-config cannot find libotr: "+err.Error())
	}
	out := filepath.Join(t.TempDir(), "libotr_peer")
	args := append([]string{"-Wall", "-O2", "-o", out, filepath.Join("testdata", "interop", "libotr_peer.c")}, strings.Fields(string(flags))...)
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("building libotr_peer: %v\n%s", err, b)
	}
	return out
}

// libotrPeer starts the libotr peer with romeo's fixture key, written by our
// MarshalKeyFile (so libotr reading it checks our key file export).
func libotrPeer(t testing.TB, policy string) *remote {
	bin := buildLibotrPeer(t)
	keyfile := filepath.Join(t.TempDir(), "otr.private_key")
	b, err := MarshalKeyFile([]KeyFileAccount{{Name: "romeo@montague.lit", Protocol: "xmpp", Identity: fixture(t, "romeo@montague.lit")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyfile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRemote(t, nil, bin, keyfile, "romeo@montague.lit", "xmpp", "correct horse", policy)
	if got, want := r.last("EV FP ours "), strings.ReplaceAll(fixture(t, "romeo@montague.lit").peer().Fingerprint(), " ", ""); got != want {
		t.Fatalf("libotr read our key file with fingerprint %s, want %s", got, want)
	}
	return r
}

func TestLibotrInteropV3(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	tr := &transcript{Peer: "libotr 4.1.1 (Debian libotr5), testdata/interop/libotr_peer.c", Command: "libotr_peer KEYFILE romeo@montague.lit xmpp 'correct horse' v23"}
	l := newLink(t, Options{}, tr)
	l.rem = libotrPeer(t, "v23")
	l.secret = "correct horse"
	l.remoteCmd("!query")
	if l.s.Version(remoteJID) != 3 || !l.rem.has("GoneSecure v3") {
		t.Fatalf("AKE with libotr: version %d events %v errs %v", l.s.Version(remoteJID), l.rem.events, l.errs)
	}
	if l.fingerprintsAgree(3) != fixture(t, "romeo@montague.lit").peer().Fingerprint() {
		t.Fatal("libotr's key is not the fixture we gave it")
	}
	l.encrypt(htmlText)
	l.wantRemotePlain(htmlText)
	l.remoteCmd("!send hello from libotr " + htmlText)
	l.wantOpened("hello from libotr " + htmlText)

	// libotr asks, no question
	l.remoteCmd("!smp correct horse")
	l.smp(SMPSucceeded)
	if !l.rem.has("SMP SUCCESS") {
		t.Fatalf("libotr SMP: %v", l.rem.events)
	}
	// libotr asks with a question
	l.rem.events = nil
	l.remoteCmd("!smpq which horse?\tcorrect horse")
	if q := l.s.SMP(remoteJID); q.State != SMPSucceeded || q.Question != "which horse?" {
		t.Fatalf("SMP with question from libotr: %+v", q)
	}
	// we ask with a question; mismatch next
	l.startSMP("which horse?", "correct horse")
	l.smp(SMPSucceeded)
	if !l.rem.has("ASK_FOR_ANSWER 25 which horse?") {
		t.Fatalf("libotr did not see our question: %v", l.rem.events)
	}
	l.rem.events = nil
	l.startSMP("", "wrong horse")
	l.smp(SMPFailed)
	if !l.rem.has("SMP FAILURE") {
		t.Fatalf("libotr SMP mismatch: %v", l.rem.events)
	}
	l.encrypt("after smp")
	l.wantRemotePlain("after smp")
	l.close()
	if !l.rem.has("PeerEnded") {
		t.Fatalf("libotr did not see the disconnect: %v", l.rem.events)
	}
	if len(l.errs) > 0 {
		t.Fatalf("errors: %v", l.errs)
	}
	l.finish("libotr-v3")
}

func TestLibotrInteropV2(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	tr := &transcript{Peer: "libotr 4.1.1 (Debian libotr5)", Command: "libotr_peer KEYFILE romeo@montague.lit xmpp 'correct horse' v2"}
	l := newLink(t, Options{}, tr)
	l.rem = libotrPeer(t, "v2")
	l.secret = "correct horse"
	l.encrypt("first, queued") // we start
	l.wantRemotePlain("first, queued")
	if l.s.Version(remoteJID) != 2 || !l.rem.has("GoneSecure v2") {
		t.Fatalf("v2 AKE with libotr: version %d events %v", l.s.Version(remoteJID), l.rem.events)
	}
	l.fingerprintsAgree(2)
	l.remoteCmd("!send v2 from libotr")
	l.wantOpened("v2 from libotr")
	l.startSMP("", "correct horse")
	l.smp(SMPSucceeded)
	l.remoteEnds()
	l.finish("libotr-v2")
}

// TestTranscriptReplay replays the recorded interop runs without the peers.
func TestTranscriptReplay(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	files, _ := filepath.Glob(filepath.Join("testdata", "transcripts", "*.json"))
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata/transcripts")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var tr transcript
			if err := json.Unmarshal(b, &tr); err != nil {
				t.Fatal(err)
			}
			l := newLink(t, Options{V2Only: tr.V2Only, FragmentSize: tr.FragmentSize}, &transcript{})
			ctx := context.Background()
			for i, o := range tr.Ops {
				var err error
				switch o.Op {
				case "in":
					var res e2e.Received
					res, err = l.s.Receive(ctx, msg(remoteJID, julietJID, "", o.Body))
					for _, op := range res.Opened {
						l.opened = append(l.opened, op.Stanza.Body())
					}
				case "encrypt":
					_, err = l.s.Encrypt(ctx, msg(julietJID, remoteJID, "", o.Body))
				case "startsmp":
					_, err = l.s.StartSMP(ctx, remoteJID, o.Question, o.Body)
				case "answersmp":
					_, err = l.s.AnswerSMP(ctx, remoteJID, o.Body)
				case "smp":
					if got := l.s.SMP(remoteJID).State.String(); got != o.Body {
						t.Fatalf("op %d: SMP state %s, recorded %s", i, got, o.Body)
					}
				case "close":
					_, err = l.s.Close(ctx)
				case "end":
					if _, err := l.s.Encrypt(ctx, msg(julietJID, remoteJID, "", "late")); !errors.Is(err, ErrFinished) {
						t.Fatalf("op %d: not FINISHED after the peer ended: %v", i, err)
					}
				default:
					t.Fatalf("unknown op %q", o.Op)
				}
				if err != nil {
					t.Fatalf("op %d (%s %.40q): %v", i, o.Op, o.Body, err)
				}
				if o.Op == "in" && tr.Version != 0 && l.s.Encrypted(remoteJID) {
					if v := l.s.Version(remoteJID); v != tr.Version {
						t.Fatalf("version %d, recorded %d", v, tr.Version)
					}
					if pk, ok := l.s.PeerKey(remoteJID); ok && pk.Fingerprint() != tr.PeerFP {
						t.Fatalf("peer fingerprint %s, recorded %s", pk.Fingerprint(), tr.PeerFP)
					}
				}
			}
			if fmt.Sprint(l.opened) != fmt.Sprint(tr.Opened) {
				t.Fatalf("replay opened %q, recorded %q", l.opened, tr.Opened)
			}
		})
	}
}
