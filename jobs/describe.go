package jobs

import "context"

// Describe is batch b's whole status document: StatusOf with its parked tasks (AddParked) and its
// audit trail. GET /v1/batches/{id}, `status --batch` and the webhooks send it.
func Describe(ctx context.Context, s *Store, b BatchInfo) (BatchStatus, Parked, error) {
	st, pk, err := AddParked(ctx, s, StatusOf(b))
	if err != nil {
		return st, pk, err
	}
	st.Audit, err = s.AuditTrail(ctx, b.ID)
	return st, pk, err
}
