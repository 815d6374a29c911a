package server_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// rawClient is a minimal hand-written c2s client (STARTTLS, PLAIN, bind)
// for load tests: far lighter than a mellium session, so that thousands fit
// in one test process.
type rawClient struct {
	conn *tls.Conn
	r    *bufio.Reader
}

func readMarker(r *bufio.Reader, marker string) (string, error) {
	var b strings.Builder
	for i := 0; i < 1<<16; i++ {
		s, err := r.ReadString('>')
		b.WriteString(s)
		if strings.Contains(b.String(), marker) {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
	}
	return b.String(), fmt.Errorf("no %q", marker)
}

func rawLogin(addr, domain, user, pw, res string, roots *x509.CertPool) (*rawClient, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	hdr := "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='" + domain + "' version='1.0'>"
	r := bufio.NewReaderSize(c, 512)
	fail := func(err error) (*rawClient, error) { c.Close(); return nil, err }
	io.WriteString(c, hdr+"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if _, err := readMarker(r, "<proceed"); err != nil {
		return fail(err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: domain, RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		return fail(err)
	}
	r = bufio.NewReaderSize(tc, 512)
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
	io.WriteString(tc, hdr+"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+auth+"</auth>")
	if s, err := readMarker(r, "<success"); err != nil {
		return fail(fmt.Errorf("auth: %v: %s", err, s))
	}
	io.WriteString(tc, hdr+"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>"+res+"</resource></bind></iq><presence/>")
	if s, err := readMarker(r, "</iq>"); err != nil || !strings.Contains(s, "type='result'") {
		return fail(fmt.Errorf("bind: %v: %s", err, s))
	}
	c.SetDeadline(time.Time{})
	return &rawClient{conn: tc, r: r}, nil
}

func (c *rawClient) close() {
	c.conn.SetDeadline(time.Now().Add(time.Second))
	io.WriteString(c.conn, "</stream:stream>")
	c.conn.Close()
}

func poolFromPEMLine(s string) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM([]byte(strings.ReplaceAll(s, "|", "\n"))) {
		return nil, fmt.Errorf("bad CA PEM")
	}
	return p, nil
}
