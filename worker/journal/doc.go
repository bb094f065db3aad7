// Package journal owns the worker's crash-safe intent log of active faults, kept in a
// bbolt file in the worker's data directory. An intent is written and fsynced before its
// fault is applied and deleted after the fault is reverted, so whatever the file still
// holds when a worker starts is a fault that may still be in effect and must be reverted.
package journal
