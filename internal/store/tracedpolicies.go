package store

import "context"

// The policy lifecycle's calls, each with a span like every store call.

func (t *traced) KeepPolicy(ctx context.Context, v PolicyVersion) (PolicyVersion, error) {
	ctx, end := t.span(ctx, "KeepPolicy")
	out, err := t.s.KeepPolicy(ctx, v)
	end(err)
	return out, err
}

func (t *traced) PolicyVersion(ctx context.Context, version string) (PolicyVersion, error) {
	ctx, end := t.span(ctx, "PolicyVersion")
	out, err := t.s.PolicyVersion(ctx, version)
	end(err)
	return out, err
}

func (t *traced) PolicyVersions(ctx context.Context, limit int) ([]PolicyVersion, error) {
	ctx, end := t.span(ctx, "PolicyVersions")
	out, err := t.s.PolicyVersions(ctx, limit)
	end(err)
	return out, err
}

func (t *traced) PolicyState(ctx context.Context) (PolicyState, error) {
	ctx, end := t.span(ctx, "PolicyState")
	out, err := t.s.PolicyState(ctx)
	end(err)
	return out, err
}

func (t *traced) ChangePolicyState(ctx context.Context, prev uint64, next PolicyState, ch PolicyChange) (PolicyState, error) {
	ctx, end := t.span(ctx, "ChangePolicyState")
	out, err := t.s.ChangePolicyState(ctx, prev, next, ch)
	end(err)
	return out, err
}

func (t *traced) PolicyChanges(ctx context.Context, limit int) ([]PolicyChange, error) {
	ctx, end := t.span(ctx, "PolicyChanges")
	out, err := t.s.PolicyChanges(ctx, limit)
	end(err)
	return out, err
}
