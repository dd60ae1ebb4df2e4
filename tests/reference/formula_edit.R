# R's update.formula and deparse of formulas, for formula_edit.json (pymer.formula's
# update_formula and deparse_lines). Only R's stats is used; no data.
#
# usage (from tests/reference): Rscript formula_edit.R formula_edit.json
script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))
args <- commandArgs(TRUE)
out <- if (length(args)) args[1] else "formula_edit.json"

# update(old, new): one line (width.cutoff = 500)
updates <- list(
  c("y ~ x + (1|g)", ". ~ . - x"),
  c("y ~ a*b + (1|g)", ". ~ . - a:b"),
  c("y ~ a*b + (1|g)", ". ~ . - b:a"),
  c("y ~ a*b + (1|g)", ". ~ ."),
  c("y ~ a*b + (1|g)", ". ~ . - 1"),
  c("y ~ a*b*c + (1|g)", ". ~ . - a:b:c"),
  c("y ~ (a + b + c)^2", ". ~ . - b:c"),
  c("y ~ a*b + (1|g)", "log(.) ~ . + z"),
  c("y ~ a*b + (1|g)", "~ . + z"),
  c("y ~ x + (x||g)", ". ~ . + w"),
  c("y ~ x + (x||g) + (1|h)", ". ~ . - (1|h)"),
  c("y ~ x + (x || g) + (1|h)", ". ~ . - (x || g)"),
  c("y ~ x + offset(o) + (1|g)", ". ~ . - x"),
  c("y ~ 0 + x + (1|g)", ". ~ . + 1"),
  c("y ~ x + I(x^2) + log(z) + (1|g)", ". ~ . - I(x^2)"),
  c("y ~ x + I(x^2) + log(z) + (1|g)", ". ~ . - log(z)"),
  c("y ~ scale(x) + factor(f) + poly(x, 2) + (1|g)", ". ~ . - factor(f)"),
  c("y ~ x + (1|g)", "z ~ a*b"),
  c("y ~ x", ". ~ . - x"),
  c("y ~ x", ". ~ . - x - 1"),
  c("y ~ x + (1|g)", ". ~ x*z + (1|g)"),
  c("y ~ x + (1|g)", "y2 ~ ."),
  c("y ~ x + (1|g)", "sqrt(.) ~ ."),
  c("y ~ x + (1|g)", ". ~ . + (0 + x|g)"),
  c("cbind(s, f) ~ period + (1 | herd)", ". ~ . - period"),
  c("cbind(s, n - s) ~ period + (1 | herd)", ". ~ . + x"),
  c("y ~ x + (1|g/h)", ". ~ . + z"),
  c("y ~ x - 1 + (1|g)", ". ~ . + z"),
  c("y ~ x + z + (1|g)", ". ~ . - x + x:z"),
  c("y ~ a/b", ". ~ ."),
  c("y ~ a/b", ". ~ . - a:b"),
  c("y ~ x %in% a", ". ~ ."),
  c("y ~ x + (1|g)", ". ~ . + offset(log(o))"),
  c("y ~ x + (1 + x|g)", ". ~ . - (1 + x|g) + (1|g)"),
  c("y ~ x + (1|g)", ". ~ . - 1 + z")
)
update_json <- lapply(updates, function(u) {
  f <- update(as.formula(u[1]), as.formula(u[2]))
  list(old = u[1], new = u[2], result = paste(deparse(f, width.cutoff = 500L), collapse = ""))
})

# deparse(formula) at R's default width.cutoff (60), the lines lme4 prints after "Formula:"
long <- c(
  "y ~ x + (1|g)",
  "Reaction ~ Days + I(Days^2) + log(Days + 1) + scale(Days) + (Days | Subject)",
  "y ~ aaaaaaaaaaaaaaaaaaaaaaa + bbbbbbbbbbbbbbbbbbbbbbbbbbb + ccccccccccccccccccccccccccc + ddddddddddddddddddddd + eeeeeeeeeeeeeeeeeeeeeeeeeeeee + fffffffffffffffffffffff + (1|g)",
  "cbind(incidence, size - incidence) ~ period + offset(log(size)) + poly(period_number_in_herd, degree = 3) + (1 | herd)",
  "y ~ f(aaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbbbbb, ccccccccccccccccccccccccccc, ddddddddddddddddddddd, eeeeeeeeee) + (1|g)"
)
deparse_json <- lapply(long, function(s) list(formula = s, lines = I(deparse(as.formula(s)))))

writeLines(toJSON(list(r_version = R.version.string, update = update_json, deparse = deparse_json),
                  auto_unbox = TRUE, pretty = TRUE), out)
