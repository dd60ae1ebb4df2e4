# Helpers shared by refgen.R and inference.R (sourced, not run on its own).
#
# load_data(name, data_dir, types): read DATA_DIR/<name>.csv and give each column
#   the type lme4's own copy of the data set has (from lme4_datasets_types.json):
#   factors get the listed level order, ordered factors are ordered. Data sets not
#   in the JSON are read as is (character columns stay character).
# capture(expr): evaluate expr, collecting (and muffling) warnings and messages.
# tab(x): a matrix / data frame as list(rownames, columns, values), NA -> null.

suppressMessages(library(jsonlite))

read_types <- function(path) {
  if (is.null(path) || !file.exists(path)) stop("types JSON not found: ", path)
  fromJSON(path, simplifyVector = FALSE)
}

load_data <- function(name, data_dir, types) {
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  spec <- types[[name]]
  if (is.null(spec)) return(d)
  for (col in names(spec$columns)) {
    ct <- spec$columns[[col]]
    if (!col %in% names(d)) stop(name, ": column ", col, " missing from CSV")
    x <- d[[col]]
    if (ct$type %in% c("factor", "ordered")) {
      lev <- unlist(ct$levels)
      f <- factor(as.character(x), levels = lev, ordered = ct$type == "ordered")
      if (any(is.na(f) & !is.na(x))) stop(name, "$", col, ": values outside the listed levels")
      d[[col]] <- f
    } else if (ct$type == "integer") {
      d[[col]] <- as.integer(x)
    } else if (ct$type == "numeric") {
      d[[col]] <- as.numeric(x)
    } else if (ct$type == "logical") {
      d[[col]] <- as.logical(x)
    } else if (ct$type == "character") {
      d[[col]] <- as.character(x)
    }
  }
  d
}

capture <- function(expr) {
  warns <- character(0); msgs <- character(0)
  t0 <- proc.time()[["elapsed"]]
  value <- withCallingHandlers(expr,
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, sub("\n$", "", conditionMessage(m))); invokeRestart("muffleMessage") })
  list(value = value, warnings = warns, messages = msgs,
       seconds = proc.time()[["elapsed"]] - t0)
}

tab <- function(x) {
  x <- as.data.frame(x, check.names = FALSE, stringsAsFactors = FALSE)
  vals <- lapply(seq_len(nrow(x)), function(i)
    I(unname(vapply(x[i, , drop = FALSE], function(v) as.numeric(v), numeric(1)))))
  list(rownames = I(rownames(x)), columns = I(colnames(x)), values = vals)
}

# jsonlite prints at most 15 significant digits; to keep every double exact, numbers
# are formatted here with the fewest digits (15, 16 or 17) that read back to the same
# double, and passed to jsonlite verbatim. NA/NaN/Inf become null. Length-1 vectors
# are scalars unless wrapped in I(); matrices become lists of rows.
fmt_num <- function(v) {
  v <- as.numeric(v)
  s <- sprintf("%.15g", v)
  for (dg in 16:17) {
    bad <- is.finite(v) & suppressWarnings(as.numeric(s)) != v
    s[bad] <- sprintf(paste0("%.", dg, "g"), v[bad])
  }
  s[!is.finite(v)] <- "null"
  s
}

exact_numbers <- function(x) {
  if (is.matrix(x) && is.numeric(x))
    return(lapply(seq_len(nrow(x)), function(i) exact_numbers(I(unname(x[i, ])))))
  if (is.list(x) && !is.data.frame(x)) {
    out <- lapply(x, exact_numbers)
    names(out) <- names(x)
    return(out)
  }
  if (is.numeric(x) && !is.factor(x)) {
    s <- fmt_num(x)
    boxed <- inherits(x, "AsIs") || length(x) != 1
    return(structure(if (boxed) paste0("[", paste(s, collapse = ", "), "]") else s,
                     class = "json"))
  }
  x
}

write_json_file <- function(res, path) {
  writeLines(toJSON(exact_numbers(res), auto_unbox = TRUE, json_verbatim = TRUE,
                    pretty = TRUE, null = "null", na = "null"), path)
}
