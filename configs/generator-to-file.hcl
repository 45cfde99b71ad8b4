# A pipeline without any server, runnable as written from the repository root:
#   mkdir -p out && bin/ferry run --plugin-dir bin/plugins configs/generator-to-file.hcl
# A synthetic order stream (snapshot rows, then inserts, updates and deletes) goes through a
# filter that drops deletes, is serialized as JSON lines and written to a file. The source
# plugin runs out of process (as an external plugin would); the others are built in.

variable "out" {
  default     = "out/demo.jsonl"
  description = "where the file sink writes (relative to the working directory, as plugin settings are)"
}

pipeline "demo" {
  description = "generator → drop deletes → jsonl → file"

  source "generator" {
    out_of_process = true
    rows           = 200
    count          = 2000
    seed           = 7
    batch_size     = 100
  }

  filter "drop" {
    ops = ["delete"]
  }

  serializer "jsonl" {}

  sink "file" {
    path = var.out
  }

  runtime {
    writers    = 4
    batch_size = 128
  }

  checkpoint {
    dir      = "../.ferry/checkpoints"
    interval = "500ms"
  }
}
