pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  resources {
    preset                        = "medum" # ERROR: Did you mean "medium"?
    full_read_concurrency         = 65 # ERROR: "full_read_concurrency" must be between 1 and 64; got 65
    full_write_concurrency        = 0 # ERROR: "full_write_concurrency" must be between 1 and 256; got 0
    full_memory                   = "512KiB" # ERROR: "full_memory" must be at least 1MiB; got 512KiB
    log_reader_memory             = "lots" # ERROR: "lots" is not a valid size for "log_reader_memory"
    incremental_write_concurrency = 2.5 # ERROR: a whole number is required
    incremental_memry             = "1GiB" # ERROR: Did you mean "incremental_memory"?
  }
  resources { # ERROR: Duplicate resources block
    preset = "small"
  }
}
