package gen

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/xmppe2e/xmppe2e/vectors"
)

func init() {
	recorders["openpgp"] = append(recorders["openpgp"], recordGnuPG)
	crafters["openpgp"] = append(crafters["openpgp"], craftArmor)
}

// recordGnuPG has GnuPG play juliet: a message encrypted to romeo, one
// signed and encrypted, and presence signed in binary and in text mode, the
// payloads being gpg's armor without its header and footer lines (XEP-0027
// §4, §5; the recipe of openpgp/testdata/make-fixtures.sh). gpg's clock is
// frozen at Epoch (--faked-system-time) so that the signatures are fresh for
// the vectors' receivers.
func recordGnuPG(ctx context.Context, keys map[string]vectors.Key) ([]Record, error) {
	t, ok, err := newTool("openpgp", "gpg")
	if !ok {
		return nil, err
	}
	defer t.close()
	t.env = []string{"GNUPGHOME=" + t.dir}
	defer func() {
		if gc, ok, _ := newTool("openpgp", "gpgconf"); ok {
			gc.env = t.env
			gc.run(ctx, "", "--kill", "gpg-agent")
			gc.close()
		}
	}()
	ver, err := t.run(ctx, "", "--version")
	if err != nil {
		return nil, err
	}
	producer := "GnuPG " + strings.TrimPrefix(strings.SplitN(ver, "\n", 2)[0], "gpg (GnuPG) ")
	gpg := func(stdin string, args ...string) (string, error) {
		return t.run(ctx, stdin, append([]string{"--batch", "--no-tty", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
			"--trust-model", "always", "--faked-system-time", Epoch.Format("20060102T150405") + "!"}, args...)...)
	}
	for _, k := range []string{keys["juliet"].Identity, keys["romeo"].Peer} {
		if _, err := gpg(k, "--import"); err != nil {
			return nil, err
		}
	}
	const from, to = "juliet@capulet.lit/balcony", "romeo@montague.lit/orchard"
	var recs []Record
	msg := func(name, op, body string, args ...string) error {
		armored, err := gpg(body, append([]string{"--armor", "-r", "romeo@montague.lit", "-o", "-"}, args...)...)
		if err != nil {
			return err
		}
		payload, err := dearmor(armored)
		if err != nil {
			return err
		}
		id := "gpg-" + name
		plain := fmt.Sprintf(`<message xmlns='jabber:client' from='%s' to='%s' id='%s' type='chat'><body>%s</body></message>`, from, to, id, escape(body))
		wire := fmt.Sprintf(`<message xmlns='jabber:client' from='%s' to='%s' id='%s' type='chat'><body>This message is encrypted.</body><x xmlns='jabber:x:encrypted'>%s</x></message>`, from, to, id, payload)
		recs = append(recs, Record{Name: name, Op: op, Sender: "juliet", Receiver: "romeo", Stanza: plain, Wire: []string{wire}, Producer: producer})
		return nil
	}
	if err := msg("gpg-message", "encrypt", "Hello Romeo <&> ünï, from GnuPG", "--encrypt"); err != nil {
		return nil, err
	}
	if err := msg("gpg-message-signed-encrypted", "sign+encrypt", "Signed by GnuPG, then encrypted", "--sign", "--encrypt", "-u", "juliet@capulet.lit"); err != nil {
		return nil, err
	}
	for _, mode := range []struct{ name, arg string }{{"binary", "--no-textmode"}, {"text", "--textmode"}} {
		status := "On the balcony <&> ünï"
		armored, err := gpg(status, "--armor", "--detach-sign", mode.arg, "-u", "juliet@capulet.lit", "-o", "-")
		if err != nil {
			return nil, err
		}
		payload, err := dearmor(armored)
		if err != nil {
			return nil, err
		}
		plain := fmt.Sprintf(`<presence xmlns='jabber:client' from='%s' to='%s'><status>%s</status></presence>`, from, to, escape(status))
		wire := fmt.Sprintf(`<presence xmlns='jabber:client' from='%s' to='%s'><status>%s</status><x xmlns='jabber:x:signed'>%s</x></presence>`, from, to, escape(status), payload)
		recs = append(recs, Record{Name: "gpg-presence-signed-" + mode.name, Op: "sign", Sender: "juliet", Receiver: "romeo", Stanza: plain, Wire: []string{wire}, Producer: producer})
	}
	return recs, nil
}

// dearmor does what `sed -e '1,/^$/d' -e '/^-----END/d'` does to gpg's
// armor: it keeps the base64 lines and the checksum line, the content of an
// XEP-0027 <x/> element.
func dearmor(armored string) (string, error) {
	armored = strings.ReplaceAll(armored, "\r\n", "\n")
	if !strings.HasPrefix(armored, "-----BEGIN PGP ") {
		return "", fmt.Errorf("not armored: %.40q", armored)
	}
	_, rest, ok := strings.Cut(armored, "\n\n")
	end := strings.Index(rest, "-----END")
	if !ok || end < 0 {
		return "", errors.New("armor without a blank line or an END line")
	}
	return "\n" + rest[:end], nil
}

// escape escapes XML character data.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// craftArmor makes the armor negatives of the first GnuPG-made and the
// first xmppe2e-made encrypted message: the checksum line changed (the data
// intact), and the checksum line removed.
func craftArmor(ctx context.Context, rec *Recording) ([]Crafted, error) {
	var out []Crafted
	done := map[bool]bool{}
	for _, r := range rec.Records {
		ours := r.Producer == "xmppe2e"
		if done[ours] || r.Op == "sign" || len(r.Wire) != 1 {
			continue
		}
		w := r.Wire[0]
		i := strings.LastIndex(w, "\n=")
		if i < 0 || len(w) < i+6 {
			continue
		}
		crc := w[i+2 : i+6]
		bad := []byte(crc)
		bad[0] = otherB64(bad[0])
		done[ours] = true
		out = append(out,
			Crafted{Name: r.Name + "-bad-crc", Comment: fmt.Sprintf("armor checksum =%s changed to =%s", crc, bad), Flags: peerFlags(r, "BadArmorCRC"),
				Sender: r.Sender, Receiver: r.Receiver, Wire: []string{w[:i+2] + string(bad) + w[i+6:]}, Producer: r.Producer},
			Crafted{Name: r.Name + "-no-crc", Comment: "armor checksum line removed", Flags: peerFlags(r, "NoArmorCRC"),
				Sender: r.Sender, Receiver: r.Receiver, Wire: []string{w[:i+1] + strings.TrimPrefix(w[i+7:], "\n")}, Producer: r.Producer})
	}
	return out, nil
}

// otherB64 returns another base64 character of the same class.
func otherB64(c byte) byte {
	switch {
	case c >= 'A' && c < 'Z', c >= 'a' && c < 'z', c >= '0' && c < '9':
		return c + 1
	case c == 'Z':
		return 'A'
	case c == 'z':
		return 'a'
	case c == '9':
		return '0'
	}
	return 'A'
}
