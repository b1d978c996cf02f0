// Package storetest is the conformance suite that every store backend
// passes, so that the server can rely on the behaviour documented in package
// store and not on one engine's habits. It follows the pattern of SpiceDB's
// pkg/datastore/test and OpenFGA's pkg/storage/test.RunAllTests.
//
// A backend calls Run from its own tests, with a function that opens a new,
// empty store and, if the backend keeps data across a restart, one that
// closes a store and reopens the same data:
//
//	func TestConformance(t *testing.T) {
//		dirs := map[store.Store]string{} // subtests run one at a time
//		openAt := func(t *testing.T, dir string) store.Store {
//			s, err := pebblestore.Open(dir, pebblestore.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { _ = s.Close() }) // may be closed already
//			dirs[s] = dir
//			return s
//		}
//		open := func(t *testing.T) store.Store { return openAt(t, t.TempDir()) }
//		reopen := func(t *testing.T, s store.Store) store.Store {
//			if err := s.Close(); err != nil {
//				t.Fatal(err)
//			}
//			return openAt(t, dirs[s])
//		}
//		storetest.Run(t, open, reopen)
//	}
//
// Pass a nil reopen for a backend with nothing to reopen (an in-memory
// store); the durability tests are then skipped. A backend that needs a
// server (PostgreSQL, Redis) should give each store its own database or key
// prefix, so that every subtest starts empty, and skip with t.Skip when the
// server is not configured.
//
// Every subtest opens its own store, so a failure names one behaviour. Some
// subtests close a store themselves (the closed-store test, and reopen), so
// the cleanup registered by open must tolerate a second Close: ignore its
// error, or accept store.ErrClosed. Run the suite with -race: two subtests
// commit from 50 goroutines at once.
//
// Times are fixed (from 2026-01-01) rather than read from the clock, and
// no event, link or mark time that is read back is finer than a
// millisecond, so a backend that keeps times to the microsecond
// (PostgreSQL) or millisecond (Redis scores) reads them back exactly.
// Decisions are compared with proto.Equal; their decided_at has
// microseconds. The one exception is the expiry boundary test's items a
// nanosecond before the cutoff, which are only checked to be gone.
//
// Readings the suite fixes where package store's comments leave room:
//
//   - Windows and scans are half-open: an event at since, or a decision
//     decided at from, is in; one at until or to is out.
//   - Expire deletes what is strictly older than now minus the retention,
//     the reading that matches the half-open windows: an item exactly at
//     the cutoff is kept, one a nanosecond older is deleted.
//     Events follow Retention.Events by their own At. Decisions follow
//     Retention.Decisions by decided_at, and take their request index with
//     them, so the request ID may be used afresh. Links and marks follow
//     Retention.Decisions by their own At, whether a decision or Record
//     wrote them: a mark reported recently on an old decision outlives it.
//   - Expire counts each expired event as exactly one deleted item, however
//     many index entries a backend keeps for it, so the count means the same
//     on every backend; for decisions, links and marks the suite only checks
//     that the count is at least the number that went.
//   - A duplicate link (same identifier and subject) keeps the first one
//     written. A repeated event (same series, key, time and ID) is kept
//     once; the suite never reuses an event ID for another event, which
//     the store's contract leaves to the caller.
//   - Reading what is not there (an identifier with no links or marks, a
//     series with no events) is an empty answer, not ErrNotFound.
//   - A cancelled context may be ignored by quick calls, but must never hang
//     one, and an error it causes wraps context.Canceled.
//   - Strings are kept and compared byte for byte (see package store): the
//     suite writes every control character but NUL, format characters,
//     emoji and the API's longest values into every string a store keeps,
//     and strings that differ only as Unicode forms, in case or by a
//     trailing blank are different IDs. It never writes NUL, which the API
//     refuses.
package storetest
