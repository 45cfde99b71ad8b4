pipeline "p" {
  source "test" {
    name = "s"
  }
  serializer "test" {
    name = "x"
  }
  sink "test" {
    name = "k"
  }
  limits {
    full {
      rows_per_second = 0 # ERROR: rows_per_second
    }
    incremental {
      rows_per_secnd = 10 # ERROR: Did you mean "rows_per_second"?
      bytes_per_second = "lots" # ERROR: not a valid size
    }
    incremental { # ERROR: Duplicate limits.incremental block
    }
    everything { # ERROR: Unsupported block type
    }
  }
}
