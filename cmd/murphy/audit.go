package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func newAuditCmd(cf *clientFlags) *cobra.Command {
	var since, output string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit trail: who submitted, halted, resumed and changed schedules and membership",
		Long: `Audit prints the cluster's audit trail, oldest first: every submission (run or
schedule), halt, halt --all, resume, schedule change and coordinator join or removal,
with who asked, from which address, when, and the submitted spec's digest. The trail
is kept in Raft and no API can edit or delete it.

--since takes a duration back from now (24h, 90m) or a time (RFC 3339); -o json prints
the entries as the API's ListAuditResponse; -o jsonl writes one flat JSON object per
line, for export to a log store.`,
		Example: "  murphy audit --since 24h\n  murphy audit -o jsonl > audit.jsonl",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", outputJSON, "jsonl"); err != nil {
				return err
			}
			from, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			c, err := dial(cf)
			if err != nil {
				return err
			}
			defer c.Close()
			req := &murphyv1.ListAuditRequest{}
			if !from.IsZero() {
				req.Since = timestamppb.New(from)
			}
			var entries []*murphyv1.AuditEntry
			for {
				ctx, cancel := c.ctx(cmd.Context())
				resp, err := c.cluster.ListAudit(ctx, req)
				cancel()
				if err != nil {
					return c.explain(err)
				}
				entries = append(entries, resp.Entries...)
				if !resp.More || len(resp.Entries) == 0 {
					break
				}
				req.AfterIndex = resp.Entries[len(resp.Entries)-1].Index
			}
			switch output {
			case outputJSON:
				// Every page in one response, as the API would answer without a limit.
				return printJSON(cmd.OutOrStdout(), &murphyv1.ListAuditResponse{Entries: entries})
			case "jsonl":
				return writeAuditJSONL(cmd.OutOrStdout(), entries)
			}
			return writeAuditText(cmd.OutOrStdout(), entries)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only entries from this long ago (24h) or this time (RFC 3339); default: all")
	outputFlag(cmd, &output, "text", outputJSON, "jsonl")
	return cmd
}

// parseSince reads --since: empty for everything, a duration back from now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: give a positive duration (24h) or a time (2026-11-22T09:00:00Z)", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration (24h) or an RFC 3339 time (2026-11-22T09:00:00Z)", s)
	}
	return t, nil
}

// auditJSON is one line of the JSON lines export; its field names are a stable format.
type auditJSON struct {
	Index      uint64 `json:"index"`
	At         string `json:"at"`
	By         string `json:"by"`
	From       string `json:"from,omitempty"`
	Action     string `json:"action"`
	Target     string `json:"target,omitempty"`
	Experiment string `json:"experiment,omitempty"`
	SpecDigest string `json:"spec_digest,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

func writeAuditJSONL(w io.Writer, entries []*murphyv1.AuditEntry) error {
	enc := json.NewEncoder(w)
	for _, e := range entries {
		if err := enc.Encode(auditJSON{
			Index: e.Index, At: e.At.AsTime().UTC().Format(time.RFC3339Nano), By: e.By, From: e.From,
			Action: e.Action, Target: e.Target, Experiment: e.Experiment, SpecDigest: e.SpecDigest,
			Reason: e.Reason, Detail: e.Detail,
		}); err != nil {
			return err
		}
	}
	return nil
}

func writeAuditText(w io.Writer, entries []*murphyv1.AuditEntry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no audit entries")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tBY\tFROM\tACTION\tTARGET\tDETAILS")
	for _, e := range entries {
		var details []string
		if e.Experiment != "" {
			details = append(details, "experiment "+e.Experiment)
		}
		if e.SpecDigest != "" {
			details = append(details, "spec "+e.SpecDigest)
		}
		if e.Reason != "" {
			details = append(details, fmt.Sprintf("reason %q", e.Reason))
		}
		if e.Detail != "" {
			details = append(details, e.Detail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.AsTime().UTC().Format("2006-01-02 15:04:05Z"),
			orDash(oneLine(e.By)), orDash(e.From), e.Action, orDash(e.Target), strings.Join(details, ", "))
	}
	return tw.Flush()
}

// oneLine keeps an identity from breaking the table.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}
