package otr

import (
	"context"
	"fmt"

	"github.com/coyim/otr3"
	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// SMPState is where the Socialist Millionaires' Protocol stands with a peer.
type SMPState int

// The SMP states a caller sees.
const (
	// SMPNone: no SMP has run in this conversation.
	SMPNone SMPState = iota
	// SMPAsked: the peer started SMP (with SMPStatus.Question, maybe empty);
	// answer with AnswerSMP or refuse with AbortSMP.
	SMPAsked
	// SMPInProgress: messages are under way.
	SMPInProgress
	// SMPSucceeded: both sides entered the same secret. Only now is the
	// peer's key (PeerKey) shown to belong to whoever knows the secret.
	SMPSucceeded
	// SMPFailed: the secrets differ. An otr3 or python-potr responder answers
	// a mismatch with an abort instead of SMP message 4; an abort that
	// arrives while the initiator waits for message 4 is reported as this.
	SMPFailed
	// SMPAborted: one side aborted before the result.
	SMPAborted
	// SMPCheated: a zero-knowledge proof did not verify.
	SMPCheated
)

func (s SMPState) String() string {
	switch s {
	case SMPNone:
		return "none"
	case SMPAsked:
		return "asked"
	case SMPInProgress:
		return "in-progress"
	case SMPSucceeded:
		return "succeeded"
	case SMPFailed:
		return "failed"
	case SMPAborted:
		return "aborted"
	case SMPCheated:
		return "cheated"
	}
	return fmt.Sprintf("SMPState(%d)", int(s))
}

// SMPStatus is the last SMP state of a conversation.
type SMPStatus struct {
	State    SMPState
	Question string // the peer's question, when it asked one
}

// noteSMP folds the SMP events of the last otr3 call into cv.smp.
func (s *Session) noteSMP(cv *conv) {
	for _, e := range cv.ev.smp {
		switch e.e {
		case otr3.SMPEventAskForSecret, otr3.SMPEventAskForAnswer:
			cv.smp = SMPStatus{State: SMPAsked, Question: e.q}
			cv.awaitSMP = false
		case otr3.SMPEventInProgress:
			cv.smp.State = SMPInProgress
			cv.awaitSMP = e.pct >= 60
		case otr3.SMPEventSuccess:
			cv.smp.State, cv.awaitSMP = SMPSucceeded, false
		case otr3.SMPEventFailure:
			cv.smp.State, cv.awaitSMP = SMPFailed, false
		case otr3.SMPEventAbort:
			if cv.awaitSMP {
				cv.smp.State = SMPFailed
			} else if cv.smp.State != SMPFailed && cv.smp.State != SMPSucceeded {
				cv.smp.State = SMPAborted
			}
			cv.awaitSMP = false
		case otr3.SMPEventCheated, otr3.SMPEventError:
			cv.smp.State, cv.awaitSMP = SMPCheated, false
		}
	}
}

// SMP returns the SMP status of the conversation with peer (a full JID).
func (s *Session) SMP(peer jid.JID) SMPStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cv := s.convs[peer.String()]; cv != nil {
		return cv.smp
	}
	return SMPStatus{}
}

// StartSMP asks peer to prove it knows secret, showing question (empty for
// none) to the peer's user. Send the returned stanzas; the result appears in
// SMP(peer) on both sides once the exchange, pumped through Receive, is done.
func (s *Session) StartSMP(ctx context.Context, peer jid.JID, question, secret string) ([]*e2e.Stanza, error) {
	return s.smpCall(ctx, peer, func(c *otr3.Conversation) ([]otr3.ValidMessage, error) {
		return c.StartAuthenticate(question, []byte(secret))
	}, func(cv *conv) { cv.smp = SMPStatus{State: SMPInProgress} })
}

// AnswerSMP answers the peer's SMP request (state SMPAsked) with secret.
func (s *Session) AnswerSMP(ctx context.Context, peer jid.JID, secret string) ([]*e2e.Stanza, error) {
	return s.smpCall(ctx, peer, func(c *otr3.Conversation) ([]otr3.ValidMessage, error) {
		return c.ProvideAuthenticationSecret([]byte(secret))
	}, func(cv *conv) { cv.smp.State = SMPInProgress })
}

// AbortSMP aborts a running SMP exchange with peer.
func (s *Session) AbortSMP(ctx context.Context, peer jid.JID) ([]*e2e.Stanza, error) {
	return s.smpCall(ctx, peer, func(c *otr3.Conversation) ([]otr3.ValidMessage, error) {
		return c.AbortAuthentication()
	}, func(cv *conv) { cv.smp.State = SMPAborted })
}

func (s *Session) smpCall(ctx context.Context, peer jid.JID, f func(*otr3.Conversation) ([]otr3.ValidMessage, error), after func(*conv)) ([]*e2e.Stanza, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.convs[peer.String()]
	if cv == nil || !cv.c.IsEncrypted() {
		return nil, ErrNoSession
	}
	var lines []otr3.ValidMessage
	err := cv.call(func() (err error) {
		lines, err = f(cv.c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("otr: SMP: %w", err)
	}
	after(cv)
	cv.awaitSMP = false
	s.noteSMP(cv)
	return s.stanzas(s.cfg.JID, cv.peer, "", lines)
}
