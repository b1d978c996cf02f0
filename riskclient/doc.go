// Package riskclient calls riskd from Go: one connection, credentials
// (plaintext, TLS, mTLS, bearer tokens), a default deadline, retries where
// they are safe, helpers that return the decision, and errors that carry
// riskd's reason and field violations.
//
//	c, err := riskclient.New("riskd.internal:50051",
//		riskclient.WithTLS("/etc/riskd/ca.pem"),
//		riskclient.WithToken(os.Getenv("RISKD_TOKEN")))
//	...
//	d, err := c.ScoreGiftCardPurchase(ctx, req)
//	var rerr *riskclient.Error
//	switch {
//	case errors.As(err, &rerr) && rerr.Code == codes.InvalidArgument:
//		// fix the fields in rerr.Fields; resending as is changes nothing
//	case riskclient.IsRetryable(err):
//		// riskd was overloaded or unreachable for the whole deadline: fall back
//	case err == nil && d.GetOutcome() == riskv1.Outcome_OUTCOME_DECLINE:
//		// a DECLINE is an answer, never an error
//	}
//
// # Retries, and why they are safe
//
// A call answered UNAVAILABLE (riskd unreachable, shutting down, or its
// store unreachable) or RESOURCE_EXHAUSTED (riskd at capacity, or the caller
// over its rate) is sent again, the same message, after a jittered
// exponential backoff, as long as the caller's deadline leaves time for it
// (WithRetry). Only methods whose repetition changes nothing are retried:
//
//   - CheckSeller, ScoreGiftCardPurchase, EvaluateRefund are idempotent by
//     request_id: a request_id already decided returns the stored decision
//     and counts nothing twice, and two identical requests racing make one
//     decision. A retry whose first attempt was decided before its answer
//     was lost gets that same decision. So the helpers refuse a request
//     without a request_id (ErrNoRequestID), and a retry sends the same
//     request_id with the same content (other content would be
//     ALREADY_EXISTS, REQUEST_ID_REUSED).
//   - ReportOutcome is idempotent by (decision_id, label): reporting the same
//     label for the same decision again changes nothing.
//   - RecordEvents is idempotent by event_id and all or nothing per batch: a
//     retried batch records what the lost attempt did not. If the lost
//     attempt did record the batch, the answer counts those events as
//     duplicates rather than recorded.
//   - GetDecision and PolicyService's GetPolicy and ReplayPolicy only read.
//
// Nothing else is retried (health checks, for one: a probe must see a
// failure), and no error outside those two codes is retried:
// INVALID_ARGUMENT, ALREADY_EXISTS, UNAUTHENTICATED and PERMISSION_DENIED
// would be answered the same again, and DEADLINE_EXCEEDED means the
// caller's time is spent.
package riskclient
