# Listed after base.hcl: its settings win over base.hcl's.

variable "team" {
  default = "team-a"
}

defaults {
  runtime {
    batch_size = 2048
  }

  resources {
    full_memory = "768MiB"
  }

  sink "test" {
    timeout = "4s"
    mode    = "fast"
  }
}
