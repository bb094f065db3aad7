package record

import (
	"os"
	"testing"
)

func TestPutGetDelete(t *testing.T) {
	d, err := Open(t.TempDir() + "/sub")
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ PIDs []int }
	var got rec
	if ok, err := d.Get("a/1", &got); ok || err != nil {
		t.Fatalf("Get of nothing: %v %v", ok, err)
	}
	if err := d.Put("a/1", rec{PIDs: []int{7, 8}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Get("a/1", &got); !ok || err != nil || len(got.PIDs) != 2 || got.PIDs[1] != 8 {
		t.Fatalf("Get: %v %v %v", got, ok, err)
	}
	if err := d.Delete("a/1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete("a/1"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if ok, _ := d.Get("a/1", &got); ok {
		t.Fatal("record still there")
	}
	ents, _ := os.ReadDir(d.Path())
	if len(ents) != 0 {
		t.Fatalf("left in the directory: %v", ents)
	}
}

func TestDamagedRecord(t *testing.T) {
	d, _ := Open(t.TempDir())
	if err := d.Put("x", 1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.file("x"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	var v int
	if _, err := d.Get("x", &v); err == nil {
		t.Fatal("damaged record read without error")
	}
}
