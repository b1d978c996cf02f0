package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// page is what every template gets.
type page struct {
	Lang  string
	Path  string
	User  string
	CSRF  string
	Error string
	Cases []*riskv1.QueuedCase
	Case  *riskv1.GetCaseResponse
	// Related is the case's related decisions (nil when the user may not
	// list them).
	Related *riskv1.ListRelatedDecisionsResponse
	Event   *riskv1.CaseEvent
	Trace   string
	Now     time.Time
	Can     map[string]bool
	Search  *searchForm
	Rule    *ruleStats
	// CertSignin offers sign-in with a client certificate (the sign-in
	// page).
	CertSignin bool
}

// ruleStats are a reason code's latest hits and, among those whose case a
// person or the caller answered, how many were fraud.
type ruleStats struct {
	Code               string
	Hits               []*riskv1.ListedDecision
	Counted            int
	More               bool
	Fraud, Legit, Open int
	Precision          string
}

// searchForm is the search page's filters, as posted, and its results.
type searchForm struct {
	Check, Outcome, CaseFilter, Reason, SubjectKind, Subject string
	Results                                                  []*riskv1.ListedDecision
	Next                                                     string
	Searched                                                 bool
	Checks, Outcomes, CaseFilters, SubjectKinds              []string
}

const reviewService = "/risk.v1.ReviewService/"

// can says which of the review methods the user's grants allow; the
// server checks again on each call.
func (c *Console) can(s *session) map[string]bool {
	can := map[string]bool{}
	id := c.userIdentity(s)
	for _, m := range []string{"ListDecisions", "ListCases", "GetCase", "ClaimCase", "ReleaseClaim", "ResolveCase", "AddCaseNote", "ListRelatedDecisions"} {
		can[m] = id != nil && id.Allowed(reviewService+m)
	}
	return can
}

func (c *Console) newPage(r *http.Request, s *session) *page {
	// The language switch comes back to this page: only a page one can
	// GET (the answer to a POST is not one).
	p := &page{Now: c.opts.Now(), Path: r.URL.Path}
	if r.Method != http.MethodGet {
		p.Path = Prefix + "queue"
	}
	if s != nil {
		p.User, p.CSRF, p.Can = s.user, s.csrf, c.can(s)
	}
	return p
}

func (c *Console) listCases(r *http.Request, s *session) ([]*riskv1.QueuedCase, error) {
	ctx, cancel := c.callCtx(r, s)
	defer cancel()
	resp, err := c.desk.ListCases(ctx, &riskv1.ListCasesRequest{PageSize: 100})
	return resp.GetCases(), err
}

// queue renders the open cases with template tmpl: "queue", the page, or
// "rows", its table body alone, which the page's script fetches every
// second so a new held order shows without a reload.
func (c *Console) queue(tmpl string) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		p := c.newPage(r, s)
		cases, err := c.listCases(r, s)
		if err != nil {
			c.failCall(w, r, s, err)
			return
		}
		p.Cases = cases
		c.render(w, r, http.StatusOK, tmpl, p)
	}
}

func (c *Console) casePage(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := c.callCtx(r, s)
	defer cancel()
	resp, err := c.desk.GetCase(ctx, &riskv1.GetCaseRequest{DecisionId: id})
	if err != nil {
		c.failCall(w, r, s, err)
		return
	}
	p := c.newPage(r, s)
	p.Case = resp
	if p.Can["ListRelatedDecisions"] {
		// The decisions sharing a device, instrument, recipient or payout
		// account with this one: what an analyst checks first.
		if p.Related, err = c.desk.ListRelatedDecisions(ctx, &riskv1.ListRelatedDecisionsRequest{DecisionId: id, PageSize: 20}); err != nil {
			c.failCall(w, r, s, err)
			return
		}
	}
	c.mu.Lock()
	p.Event = s.resolved[id]
	c.mu.Unlock()
	if tid := resp.GetDecision().GetTraceId(); tid != "" && c.opts.TraceURL != "" {
		p.Trace = strings.ReplaceAll(c.opts.TraceURL, "{trace_id}", url.PathEscape(tid))
	}
	c.render(w, r, http.StatusOK, "case", p)
}

// search is the search page over ListDecisions. The form is posted, not
// sent in the URL: a subject is a phone number, an e-mail address or an ID
// number, which must not land in browser history or proxies' logs. riskd
// pseudonymises it as at decision time and stores no raw value.
func (c *Console) search(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.newPage(r, s)
	f := &searchForm{Checks: enumNames(riskv1.Check_name), Outcomes: enumNames(riskv1.Outcome_name),
		CaseFilters: enumNames(riskv1.CaseFilter_name), SubjectKinds: enumNames(riskv1.SubjectKind_name)}
	p.Search = f
	if r.Method != http.MethodPost {
		c.render(w, r, http.StatusOK, "search", p)
		return
	}
	f.Searched = true
	f.Check, f.Outcome, f.CaseFilter = r.PostFormValue("check"), r.PostFormValue("outcome"), r.PostFormValue("case_filter")
	f.Reason, f.SubjectKind, f.Subject = strings.TrimSpace(r.PostFormValue("reason")), r.PostFormValue("subject_kind"), strings.TrimSpace(r.PostFormValue("subject"))
	req := &riskv1.ListDecisionsRequest{ReasonCode: f.Reason, PageSize: 50, PageToken: r.PostFormValue("page_token")}
	if v, ok := riskv1.Check_value[f.Check]; ok && v != 0 {
		req.Checks = []riskv1.Check{riskv1.Check(v)}
	}
	if v, ok := riskv1.Outcome_value[f.Outcome]; ok && v != 0 {
		req.Outcomes = []riskv1.Outcome{riskv1.Outcome(v)}
	}
	req.CaseFilter = riskv1.CaseFilter(riskv1.CaseFilter_value[f.CaseFilter])
	if k := riskv1.SubjectKind_value[f.SubjectKind]; k != 0 && f.Subject != "" {
		req.Subject = &riskv1.Subject{Kind: riskv1.SubjectKind(k), Value: f.Subject}
	}
	ctx, cancel := c.callCtx(r, s)
	defer cancel()
	resp, err := c.desk.ListDecisions(ctx, req)
	if err != nil {
		c.failCall(w, r, s, err)
		return
	}
	f.Results, f.Next = resp.GetDecisions(), resp.GetNextPageToken()
	c.render(w, r, http.StatusOK, "search", p)
}

// ruleHitsMax bounds the hits a rule page reads: four pages of 500.
const ruleHitsMax = 2000

// rulePage is a reason code's hits, newest first, and its precision over
// the answered cases among them: confirmed fraud / (fraud + legitimate).
// Decisions without a case, and cases still open or expired, are not
// counted: nobody said whether they were fraud.
func (c *Console) rulePage(w http.ResponseWriter, r *http.Request, s *session) {
	code := r.PathValue("code")
	st := &ruleStats{Code: code}
	ctx, cancel := c.callCtx(r, s)
	defer cancel()
	token := ""
	for {
		resp, err := c.desk.ListDecisions(ctx, &riskv1.ListDecisionsRequest{ReasonCode: code, PageSize: 500, PageToken: token})
		if err != nil {
			c.failCall(w, r, s, err)
			return
		}
		for _, d := range resp.GetDecisions() {
			st.Counted++
			if len(st.Hits) < 50 {
				st.Hits = append(st.Hits, d)
			}
			switch d.GetCase().GetResolution() {
			case riskv1.CaseResolution_CASE_RESOLUTION_CONFIRMED_FRAUD:
				st.Fraud++
			case riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE:
				st.Legit++
			case riskv1.CaseResolution_CASE_RESOLUTION_UNSPECIFIED:
				if d.GetCase() != nil {
					st.Open++
				}
			}
		}
		token = resp.GetNextPageToken()
		if token == "" || st.Counted >= ruleHitsMax {
			st.More = token != ""
			break
		}
	}
	if n := st.Fraud + st.Legit; n > 0 {
		st.Precision = fmt.Sprintf("%.0f%%", 100*float64(st.Fraud)/float64(n))
	}
	p := c.newPage(r, s)
	p.Rule = st
	c.render(w, r, http.StatusOK, "rule", p)
}

// enumNames are an enum's value names but the unspecified one, in number
// order, for a form's choices.
func enumNames(names map[int32]string) []string {
	out := make([]string, 0, len(names))
	for i := int32(1); i < int32(len(names))+1; i++ {
		if n, ok := names[i]; ok {
			out = append(out, n)
		}
	}
	return out
}

var resolutions = map[string]riskv1.CaseResolution{
	"confirmed_fraud":           riskv1.CaseResolution_CASE_RESOLUTION_CONFIRMED_FRAUD,
	"legitimate":                riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE,
	"needs_holder_confirmation": riskv1.CaseResolution_CASE_RESOLUTION_NEEDS_HOLDER_CONFIRMATION,
}

func (c *Console) caseAction(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := c.callCtx(r, s)
	defer cancel()
	note := strings.TrimSpace(r.PostFormValue("note"))
	var err error
	switch r.PathValue("action") {
	case "claim":
		_, err = c.desk.ClaimCase(ctx, &riskv1.ClaimCaseRequest{DecisionId: id})
	case "release":
		_, err = c.desk.ReleaseClaim(ctx, &riskv1.ReleaseClaimRequest{DecisionId: id})
	case "note":
		_, err = c.desk.AddCaseNote(ctx, &riskv1.AddCaseNoteRequest{DecisionId: id, Note: note})
	case "resolve":
		res, ok := resolutions[r.PostFormValue("resolution")]
		if !ok {
			c.fail(w, r, s, http.StatusBadRequest, "err_bad_request")
			return
		}
		var resp *riskv1.ResolveCaseResponse
		resp, err = c.desk.ResolveCase(ctx, &riskv1.ResolveCaseRequest{DecisionId: id, Resolution: res, Note: note})
		if err == nil {
			c.mu.Lock()
			s.resolved[id] = resp.GetEvent()
			c.mu.Unlock()
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.failCall(w, r, s, err)
		return
	}
	// Post, redirect, get: a reload does not post the action again.
	http.Redirect(w, r, Prefix+"case/"+url.PathEscape(id), http.StatusSeeOther)
}

// httpStatus maps the service's errors to HTTP statuses and to the message
// shown: the one place where domain errors meet HTTP.
func httpStatus(err error) (int, string) {
	st, _ := status.FromError(err)
	reason := ""
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.GetReason()
		}
	}
	switch reason {
	case "CASE_RESOLVED":
		return http.StatusConflict, "err_case_resolved"
	case "CASE_CLAIMED":
		return http.StatusConflict, "err_case_claimed"
	case "CLAIM_REQUIRED":
		return http.StatusConflict, "err_claim_required"
	}
	switch st.Code() {
	case codes.Unauthenticated:
		return http.StatusUnauthorized, "err_signed_out"
	case codes.PermissionDenied:
		return http.StatusForbidden, "err_not_granted"
	case codes.NotFound:
		return http.StatusNotFound, "err_not_found"
	case codes.InvalidArgument:
		return http.StatusBadRequest, "err_bad_request"
	case codes.FailedPrecondition:
		return http.StatusConflict, "err_bad_request"
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
		return http.StatusServiceUnavailable, "err_unavailable"
	}
	return http.StatusInternalServerError, "err_internal"
}

// fail answers with an error page: the status and the message's key.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, code int, key string) {
	p := c.newPage(r, s)
	p.Error = key
	c.render(w, r, code, "error", p)
}

// failCall answers with the error page for a failed ReviewService call.
func (c *Console) failCall(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code, key := httpStatus(err)
	if code >= 500 {
		// The code and path only: a status message can carry request values.
		c.opts.Logger.Warn("console call failed", "code", status.Code(err).String(), "path", r.URL.Path)
	}
	c.fail(w, r, s, code, key)
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, name string, p *page) {
	p.Lang = langOf(r)
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, name, p); err != nil {
		c.opts.Logger.Error("console template", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// parsePages parses every page into one set: the pages share the layout,
// and the queue includes its rows.
func parsePages() (*template.Template, error) {
	t, err := template.New("console").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"signin", "queue", "rows", "case", "search", "rule", "error"} {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("console: no template %q", name)
		}
	}
	return t, nil
}
