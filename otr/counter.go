package otr

import (
	"reflect"
	"unsafe"

	"github.com/coyim/otr3"
)

// otr3 (the pinned version) moves a key pair's receive counter forward
// before it checks the data message's MAC, where the OTR spec and libotr
// check the MAC first. Unmitigated, a tampered copy of a message makes otr3
// refuse the genuine one, and one forged message with a huge counter blocks
// that direction for good: the receiver can never take a message under that
// key pair again, and the keys cannot rotate without one.
//
// We mitigate it: before handing otr3 a data message we note every receive
// counter, and when the message does not verify we put them back. otr3
// keeps the counters in unexported fields, so this reads and writes them by
// reflection; counterSnapshot reports ok=false when otr3's layout is not the
// one this code knows (another otr3 version), and then the mitigation is
// off (TestCounterAdvanceHazard fails and tells).

type counterSnapshot struct {
	ptrs []*uint64
	vals []uint64
}

// snapshotCounters records the receive counters of c.
func snapshotCounters(c *otr3.Conversation) (snap counterSnapshot, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	keys := reflect.ValueOf(c).Elem().FieldByName("keys")
	if !keys.IsValid() {
		return snap, false
	}
	counters := keys.FieldByName("counterHistory").FieldByName("counters")
	if counters.Kind() != reflect.Slice {
		return snap, false
	}
	for i := 0; i < counters.Len(); i++ {
		p := counters.Index(i)
		if p.Kind() != reflect.Pointer || p.IsNil() {
			return snap, false
		}
		f := p.Elem().FieldByName("theirCounter")
		if f.Kind() != reflect.Uint64 || !f.CanAddr() {
			return snap, false
		}
		ptr := (*uint64)(unsafe.Pointer(f.UnsafeAddr()))
		snap.ptrs = append(snap.ptrs, ptr)
		snap.vals = append(snap.vals, *ptr)
	}
	return snap, true
}

// restore puts the recorded counters back. Counters otr3 created during the
// call stay, at the value it gave them; they belong to key pairs for which
// nothing has verified, so restore zeroes them too.
func (s counterSnapshot) restore(c *otr3.Conversation) {
	known := map[*uint64]bool{}
	for i, p := range s.ptrs {
		*p = s.vals[i]
		known[p] = true
	}
	after, ok := snapshotCounters(c)
	if !ok {
		return
	}
	for _, p := range after.ptrs {
		if !known[p] {
			*p = 0
		}
	}
}
