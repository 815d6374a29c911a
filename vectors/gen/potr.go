package gen

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"github.com/xmppe2e/xmppe2e/otr"
	"github.com/xmppe2e/xmppe2e/vectors"
)

func init() {
	recorders["otr"] = append(recorders["otr"], recordPotr)
}

//go:embed potr_peer.py
var potrScript []byte

// potrLine is the driver of potr_peer.py: one JSON string in, one JSON list
// of potr's outgoing OTR messages back.
type potrLine struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

func (p *potrLine) do(line string) ([]string, error) {
	b, _ := json.Marshal(line)
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	if !p.out.Scan() {
		return nil, fmt.Errorf("potr exited: %v", p.out.Err())
	}
	var msgs []string
	return msgs, json.Unmarshal(p.out.Bytes(), &msgs)
}

// recordPotr has python3-potr (OTR v2) play juliet with her key: it sends
// the query, runs the AKE against romeo's session (seeded as the vectors'
// receiver will be) and sends a data message; the record keeps what romeo
// was given. python-potr cannot be seeded, so the transcript is what one run
// gave; the receiver's side replays exactly.
func recordPotr(ctx context.Context, keys map[string]vectors.Key) ([]Record, error) {
	if err := exec.CommandContext(ctx, peers.Python, "-c", "import potr").Run(); err != nil {
		fmt.Fprintf(os.Stderr, "vectors/gen: otr: python3-potr not installed (%s), no records from it\n", peers.Python)
		return nil, nil
	}
	out, err := exec.CommandContext(ctx, peers.Python, "-c", "import importlib.metadata as m; print(m.version('python-potr'))").Output()
	if err != nil {
		return nil, err
	}
	producer := "python3-potr " + strings.TrimSpace(string(out))
	dir, err := os.MkdirTemp("", "vgen")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := errors.Join(os.WriteFile(dir+"/potr_peer.py", potrScript, 0o600),
		os.WriteFile(dir+"/juliet.key", []byte(keys["juliet"].Identity), 0o600)); err != nil {
		return nil, err
	}
	var recs []Record
	for i, body := range []string{"Hello from python-potr <&> ¿qué? 🌹"} {
		r, err := potrExchange(ctx, dir, keys, producer, fmt.Sprintf("potr-message-%d", i+1), body)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func potrExchange(ctx context.Context, dir string, keys map[string]vectors.Key, producer, name, body string) (Record, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, peers.Python, dir+"/potr_peer.py", dir+"/juliet.key")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return Record{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Record{}, err
	}
	if err := cmd.Start(); err != nil {
		return Record{}, err
	}
	defer func() { in.Close(); cmd.Wait() }()
	p := &potrLine{in: in, out: bufio.NewScanner(stdout)}
	p.out.Buffer(make([]byte, 1<<20), 1<<20)

	rid, err := otr.Scheme.ParseIdentity([]byte(keys["romeo"].Identity))
	if err != nil {
		return Record{}, err
	}
	jpub, err := otr.Scheme.ParsePeer([]byte(keys["juliet"].Peer))
	if err != nil {
		return Record{}, err
	}
	recvRand, seed := seeded("recv/potr/" + name)
	rcv, err := otr.Scheme.NewSession(e2e.Config{Local: rid, JID: parties["romeo"], Peers: []e2e.Peer{jpub}, Rand: recvRand,
		Clock: func() time.Time { return Epoch }})
	if err != nil {
		return Record{}, err
	}
	from, to := parties["juliet"].String(), parties["romeo"].String()
	n := 0
	wrap := func(line string) (*e2e.Stanza, error) {
		n++
		return e2e.Parse([]byte(fmt.Sprintf(`<message xmlns='jabber:client' from='%s' to='%s' id='%s-%d' type='chat'><body>%s</body></message>`, from, to, name, n, escape(line))))
	}
	var wire []string
	// deliver gives potr's lines to romeo and romeo's replies to potr until
	// both are quiet; it returns what opened.
	deliver := func(lines []string) ([]e2e.Opened, error) {
		var opened []e2e.Opened
		for steps := 0; len(lines) > 0 && steps < 50; steps++ {
			line := lines[0]
			lines = lines[1:]
			st, err := wrap(line)
			if err != nil {
				return nil, err
			}
			wire = append(wire, st.String())
			res, err := rcv.Receive(cctx, st)
			if err != nil {
				return nil, fmt.Errorf("romeo refused potr's %.40q: %w", line, err)
			}
			opened = append(opened, res.Opened...)
			for _, rep := range res.Replies {
				more, err := p.do(rep.Body())
				if err != nil {
					return nil, fmt.Errorf("%w\n%s", err, stderr.String())
				}
				lines = append(lines, more...)
			}
		}
		return opened, nil
	}
	q, err := p.do("!query")
	if err != nil {
		return Record{}, fmt.Errorf("%w\n%s", err, stderr.String())
	}
	if _, err := deliver(q); err != nil {
		return Record{}, err
	}
	data, err := p.do("!send " + body)
	if err != nil {
		return Record{}, err
	}
	opened, err := deliver(data)
	if err != nil {
		return Record{}, err
	}
	if len(opened) != 1 || opened[0].Stanza.Body() != body {
		return Record{}, fmt.Errorf("potr's message opened as %v (state %v)", opened, stderr.String())
	}
	plain := fmt.Sprintf(`<message xmlns='jabber:client' from='%s' to='%s' id='%s-%d' type='chat'><body>%s</body></message>`, from, to, name, n, escape(body))
	return Record{Name: name, Op: "encrypt", Sender: "juliet", Receiver: "romeo", Stanza: plain, Wire: wire, Producer: producer, ReceiverSeed: seed}, nil
}
