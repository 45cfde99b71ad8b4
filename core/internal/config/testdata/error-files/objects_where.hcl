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
  objects {
    table "shop.a" {
      where = 5 # ERROR: a string holding a SQL condition is required
    }
    table "shop.b" {
      where = "name REGEXP '^a'" # ERROR: unsupported expression
    }
    table "shop.c" {
      where = "id IN (SELECT id FROM x)" # ERROR: subqueries are not supported
    }
    table "shop.d" {
      where = "UPPER(name) = 'A'" # ERROR: unsupported function UPPER
    }
    table "shop.e" {
      where = "id > 9223372036854775807 + 1" # ERROR: out of range
    }
    table "shop.f" {
      where = true # ERROR: a string holding a SQL condition is required
    }
    table "shop.g" {
      where = "orders.id > 0 AND unknown_col IS NULL"
    }
  }
}
