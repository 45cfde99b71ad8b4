# A pipeline that takes its common settings from two templates.
template = ["shared/base.hcl", "shared/team.hcl"]

pipeline "templated" {
  tags = [var.team]

  source "test" {
    name = "orders"   # wins over base.hcl's name
  }
  serializer "canal" {}
  sink "test" {
    port = 9876
  }

  limits {
    full {
      bytes_per_second = "1MiB"  # replaces base.hcl's limits.full as a whole
    }
  }

  resources {
    incremental_write_concurrency = 6
  }
}
