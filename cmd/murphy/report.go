package main

import (
	"context"
	"fmt"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

func newReportCmd(cf *clientFlags) *cobra.Command {
	var output, file, httpAddr string
	cmd := &cobra.Command{
		Use:   "report RUN",
		Short: "Write a run's self-contained report (HTML with charts, Markdown or JSON)",
		Long: `Report writes a run's review document: the verdict in plain words, control and
experiment over time with the fault windows shaded, the distributions, each metric's
interval against its tolerance, and for metrics decided host by host every host's change
against its own baseline (which hosts drove a deviation, how many hosts would settle an
open question, the pooled every-sample view as a secondary one), the timeline, halt
evidence and the spec. The HTML file
holds its CSS and SVG charts inline and loads nothing, so it can be attached to a review
or postmortem. Any coordinator answers; the report is read from its HTTP address, found
through --addr (or given with --http).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "html", "markdown", "md", "json":
			default:
				return fmt.Errorf("unknown output %q: use html, markdown or json", output)
			}
			if httpAddr == "" {
				c, err := dial(cf)
				if err != nil {
					return err
				}
				defer c.Close()
				ctx, cancel := c.ctx(cmd.Context())
				defer cancel()
				st, err := c.cluster.Status(ctx, &murphyv1.StatusRequest{})
				if err != nil {
					return c.explain(err)
				}
				for _, n := range st.Nodes {
					if n.Id == st.NodeId {
						httpAddr = n.HttpAddr
					}
				}
				if httpAddr == "" {
					return fmt.Errorf("coordinator %s serves no HTTP address (start it with --http-addr), or give one with --http", st.NodeId)
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), cf.timeout)
			defer cancel()
			// A TLS cluster serves its pages over HTTPS and checks the same credentials
			// as its API: the CLI's certificate, or its token as a bearer header.
			scheme, hc := "http", http.DefaultClient
			if !cf.insecure {
				tc, err := tlsutil.ClientConfig(cf.tls)
				if err != nil {
					return err
				}
				scheme, hc = "https", &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
			}
			u := scheme + "://" + httpAddr + "/ui/runs/" + url.PathEscape(args[0]) + "/report?format=" + url.QueryEscape(output)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			if cf.token != "" {
				req.Header.Set("Authorization", "Bearer "+cf.token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return fmt.Errorf("fetch the report from %s: %v", httpAddr, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				return fmt.Errorf("run %q not found on the coordinator at %s (`murphy ls` lists runs)", args[0], httpAddr)
			}
			if resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return fmt.Errorf("report from %s: %s: %s", httpAddr, resp.Status, body)
			}
			var w io.Writer = cmd.OutOrStdout()
			if file != "" && file != "-" {
				f, err := os.Create(file)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if _, err := io.Copy(w, resp.Body); err != nil {
				return fmt.Errorf("write the report: %w", err)
			}
			if file != "" && file != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", file)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "html", "html, markdown or json")
	cmd.Flags().StringVarP(&file, "file", "f", "", "write to this file instead of standard output")
	cmd.Flags().StringVar(&httpAddr, "http", "", "a coordinator's HTTP address (default: the one --addr names)")
	return cmd
}
