package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/murphy-chaos/murphy/internal/tlsutil"
)

func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Create the cluster's CA and issue certificates for coordinators, workers and people",
		Long: `Every Murphy connection is mutual TLS against one CA, and a certificate's role decides
what its holder may do:

  viewer       read runs, verdicts, workers, schedules, the audit trail
  operator     viewer, plus validate, run and halt experiments
  admin        operator, plus cluster membership, schedules, halt --all and resume
  worker       only its own worker stream (the name must be the worker's --id)
  coordinator  a cluster node (serves the API, replicates Raft)

Keep ca.key offline once the certificates are issued.`,
		Example: `  murphy tls init --dir ./pki
  murphy tls issue --dir ./pki --role coordinator --name n1 --host n1.murphy.internal,10.0.0.1
  murphy tls issue --dir ./pki --role worker --name web-1
  murphy tls issue --dir ./pki --role operator --name alice`,
	}
	var dir string
	var days int
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a CA (ca.crt, ca.key) in --dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := tlsutil.InitCA(dir, time.Duration(days)*24*time.Hour); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA created in %s (ca.crt, ca.key)\n", dir)
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "pki", "directory for the CA")
	initCmd.Flags().IntVar(&days, "days", 3650, "validity in days")
	var role, name, hosts, out string
	var certDays int
	issue := &cobra.Command{
		Use:   "issue",
		Short: "Issue NAME.crt and NAME.key for a role, signed by the CA in --dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				out = dir
			}
			crt, key, err := tlsutil.Issue(dir, out, role, name, splitList(hosts), time.Duration(certDays)*24*time.Hour, time.Time{})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s certificate for %q: %s, %s\n", role, name, crt, key)
			return nil
		},
	}
	issue.Flags().StringVar(&dir, "dir", "pki", "directory holding the CA")
	issue.Flags().StringVar(&role, "role", "", "viewer, operator, admin, worker or coordinator (required)")
	issue.Flags().StringVar(&name, "name", "", "who: a person, a worker's --id, a coordinator's --node-id (required)")
	issue.Flags().StringVar(&hosts, "host", "", "extra DNS names or IPs the certificate is valid for (coordinators: the addresses clients dial)")
	issue.Flags().IntVar(&certDays, "days", 365, "validity in days")
	issue.Flags().StringVar(&out, "out", "", "directory for the certificate (default --dir)")
	cmd.AddCommand(initCmd, issue)
	return cmd
}
