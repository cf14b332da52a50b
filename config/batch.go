package config

import (
	"fmt"

	"github.com/reaper-media/reaper/jobs/webhook"
)

// Batch is what every batch gets unless its submission says otherwise: the failure threshold that
// suspends a batch failing most of what it touches, and the webhook told when a batch is done or
// suspended.
type Batch struct {
	// MaxFailureRatio suspends a batch once MinOutcomes outcomes are recorded and more than this
	// share of them failed (already_gone counts as a success); 0 turns the threshold off. Per batch:
	// `enqueue --max-failure-ratio`, the API's max_failure_ratio.
	MaxFailureRatio float64 `yaml:"max_failure_ratio"`
	// MinOutcomes is how many outcomes a batch records before the threshold applies.
	MinOutcomes int `yaml:"min_outcomes"`
	// NotifyURL is the webhook POSTed the batch's status when it is done or suspended, for batches
	// that name none (`enqueue --notify`, the API's notify); empty: none.
	NotifyURL string `yaml:"notify_url"`

	// WebhookSecret signs every webhook delivery (HMAC-SHA256). Env REAPER_WEBHOOK_SECRET only.
	WebhookSecret string `yaml:"-"`
}

// defaultBatch is the threshold S3 Batch Operations applies to a job: at least 1,000 tasks run, more
// than half failed.
func defaultBatch() Batch { return Batch{MaxFailureRatio: 0.5, MinOutcomes: 1000} }

func (b *Batch) applyEnv(getenv func(string) string) {
	if v := getenv("REAPER_WEBHOOK_SECRET"); v != "" {
		b.WebhookSecret = v
	}
}

func (b Batch) validate(bad func(key, format string, args ...any)) {
	if b.MaxFailureRatio < 0 || b.MaxFailureRatio > 1 {
		bad("batch.max_failure_ratio", "must be between 0 (off) and 1, got %g", b.MaxFailureRatio)
	}
	if b.MinOutcomes < 1 {
		bad("batch.min_outcomes", "must be at least 1, got %d", b.MinOutcomes)
	}
	if b.NotifyURL != "" {
		if err := webhook.CheckURL(b.NotifyURL); err != nil {
			bad("batch.notify_url", "%v", err)
		} else if b.WebhookSecret == "" {
			bad("batch.notify_url", "needs REAPER_WEBHOOK_SECRET, the secret its deliveries are signed with")
		}
	}
}

// CheckNotify checks a batch's own webhook URL (`enqueue --notify`, the API's notify) against this
// configuration: a valid URL, and a secret to sign its deliveries with.
func (c *Config) CheckNotify(raw string) error {
	if err := webhook.CheckURL(raw); err != nil {
		return err
	}
	if c.Batch.WebhookSecret == "" {
		return fmt.Errorf("needs REAPER_WEBHOOK_SECRET, the secret webhook deliveries are signed with")
	}
	return nil
}
