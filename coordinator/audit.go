package coordinator

import (
	"context"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// maxAuditPage bounds one ListAudit answer, well under the 4 MiB message limit even with
// long reasons; a client reads on with after_index.
const maxAuditPage = 5000

// ListAudit reads the audit trail the FSM keeps. There is deliberately no call that
// writes, edits or deletes it: entries only come from applied commands.
func (c *clusterService) ListAudit(_ context.Context, req *murphyv1.ListAuditRequest) (*murphyv1.ListAuditResponse, error) {
	if req.Limit < 0 {
		return nil, fail(errInvalid, "list audit: limit must not be negative")
	}
	if req.Since != nil {
		if err := req.Since.CheckValid(); err != nil {
			return nil, fail(errInvalid, "list audit: since: %v", err)
		}
	}
	limit := int(req.Limit)
	if limit == 0 || limit > maxAuditPage {
		limit = maxAuditPage
	}
	entries, more := c.s.fsm.Audit(req.Since, req.AfterIndex, limit)
	return &murphyv1.ListAuditResponse{Entries: entries, More: more}, nil
}
