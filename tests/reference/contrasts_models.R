# Reference values for pymer.emmeans and pymer.glht: emmeans' marginal means and
# contrasts, multcomp's glht tests and simultaneous intervals (and broom's tidy of
# them), on lmer, glmer and glmer.nb fits of lme4's data sets.
#
# usage: Rscript contrasts_models.R DATA_DIR OUT.json [TYPES.json]
#   (from tests/reference: Rscript contrasts_models.R ../../../shared/data contrasts.json)
#
# The JSON holds "models" (id -> data, call) and "cases" (a list). Each case has: id,
# model (an id of "models"), kind ("emmeans" or "glht"), call (the R call as text), the
# arguments pymer is called with (args), and the results: for emmeans, "emmeans" and
# "contrasts" (column name -> values, as as.data.frame(summary(.)) gives them) and
# "printed" (print()'s lines); for glht, "summary" (estimate, SE, statistic, p-value
# per hypothesis, for test = "single-step" and the other adjustments asked), "confint"
# (quantile, lwr, upr), "tidy" (broom's tidy of the summary) and "printed".
# Randomized multivariate normal / t probabilities (emmeans' "mvt", multcomp's
# single-step) use set.seed(1); their precision is mvtnorm's: multcomp's default
# GenzBretz(maxpts = 25000, abseps = 0.001) is off by up to 0.01 for the singular
# correlation of all pairwise comparisons, so glht cases also hold the single-step
# p-values from pmvnorm with abseps = 1e-5 (p_single_step_precise).
suppressMessages({library(lme4); library(emmeans); library(multcomp); library(pbkrtest)
                  library(lmerTest); library(broom)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(width = 80, useFancyQuotes = FALSE)

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))

args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript contrasts_models.R DATA_DIR OUT.json [TYPES.json]")
data_dir <- args[1]
types <- read_types(if (length(args) >= 3) args[3] else file.path(data_dir, "lme4_datasets_types.json"))

# GLMMs with PIRLS run to convergence (as glmm_tight.R): lme4's default tolPwrss = 1e-7
# moves its finite-difference Hessian, hence vcov and every SE below, by up to 1.4% (cbpp)
tight <- glmerControl(tolPwrss = 1e-12)

models <- list(
  cake_temp = list(data = "cake",
    call = quote(lme4::lmer(angle ~ recipe * temp + (1 | recipe:replicate), data = d))),
  cake_add = list(data = "cake",
    call = quote(lme4::lmer(angle ~ recipe + temperature + (1 | recipe:replicate), data = d))),
  cake_int = list(data = "cake",
    call = quote(lme4::lmer(angle ~ recipe * temperature + (1 | recipe:replicate), data = d))),
  cbpp = list(data = "cbpp",
    call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                       data = d, family = binomial, control = tight))),
  grouse = list(data = "grouseticks",
    call = quote(glmer(TICKS ~ YEAR + HEIGHT + (1 | LOCATION), data = d, family = poisson, control = tight))),
  lamprey = list(data = "lamprey_lab_DNA",
    call = quote(glmer(Detect ~ factor(DNA) + Fluor + (1 | tank), data = d, family = binomial,
                       control = tight))),
  cbpp_offset = list(data = "cbpp",
    call = quote(glmer(incidence ~ period + offset(log(size)) + (1 | herd), data = d, family = poisson,
                       control = tight))),
  grouse_nb = list(data = "grouseticks",
    call = quote(glmer.nb(TICKS ~ YEAR + (1 | LOCATION), data = d, control = tight)))
)

frame <- function(x) {
  x <- as.data.frame(x)
  out <- lapply(x, function(v) if (is.factor(v) || is.character(v)) I(as.character(v)) else I(as.numeric(v)))
  names(out) <- names(x)
  out
}

fits <- list()
for (id in names(models)) {
  env <- new.env()
  env$d <- load_data(models[[id]]$data, data_dir, types)
  # each fit keeps its own data (lmerTest's Satterthwaite df refit the deviance function)
  fits[[id]] <- suppressWarnings(eval(models[[id]]$call, env))
}

# emmeans cases: model, R call (a function of m), pymer's arguments
em_cases <- list(
  list(id = "cake_temp_pairwise", model = "cake_temp",
       call = quote(emmeans(m, pairwise ~ recipe)),
       args = list(specs = "recipe", contrasts = "pairwise")),
  list(id = "cake_temp_at", model = "cake_temp",
       call = quote(emmeans(m, revpairwise ~ recipe, at = list(temp = 215))),
       args = list(specs = "recipe", contrasts = "revpairwise", at = list(temp = 215))),
  list(id = "cake_temp_satt", model = "cake_temp",
       call = quote(emmeans(m, trt.vs.ctrl ~ recipe, lmer.df = "satterthwaite")),
       args = list(specs = "recipe", contrasts = "trt.vs.ctrl", ddf = "Satterthwaite")),
  list(id = "cake_temp_asym_holm", model = "cake_temp",
       call = quote(emmeans(m, pairwise ~ recipe, lmer.df = "asymptotic", adjust = "holm")),
       args = list(specs = "recipe", contrasts = "pairwise", ddf = "asymptotic", adjust = "holm")),
  list(id = "cake_add_poly", model = "cake_add",
       call = quote(emmeans(m, poly ~ temperature)),
       args = list(specs = "temperature", contrasts = "poly")),
  list(id = "cake_add_trt", model = "cake_add",
       call = quote(emmeans(m, trt.vs.ctrl ~ temperature)),
       args = list(specs = "temperature", contrasts = "trt.vs.ctrl")),
  list(id = "cake_add_consec", model = "cake_add",
       call = quote({set.seed(1); emmeans(m, consec ~ temperature)}),
       args = list(specs = "temperature", contrasts = "consec")),
  list(id = "cake_add_recipe_bonf", model = "cake_add",
       call = quote(emmeans(m, pairwise ~ recipe, adjust = "bonferroni", level = 0.9)),
       args = list(specs = "recipe", contrasts = "pairwise", adjust = "bonferroni", level = 0.9)),
  list(id = "cake_add_sidak", model = "cake_add",
       call = quote(emmeans(m, pairwise ~ temperature, adjust = "sidak")),
       args = list(specs = "temperature", contrasts = "pairwise", adjust = "sidak")),
  list(id = "cake_add_scheffe", model = "cake_add",
       call = quote(emmeans(m, pairwise ~ recipe, adjust = "scheffe")),
       args = list(specs = "recipe", contrasts = "pairwise", adjust = "scheffe")),
  list(id = "cake_add_mvt", model = "cake_add",
       call = quote({set.seed(1); emmeans(m, pairwise ~ recipe, adjust = "mvt")}),
       args = list(specs = "recipe", contrasts = "pairwise", adjust = "mvt")),
  list(id = "cake_add_custom", model = "cake_add",
       call = quote({e <- emmeans(m, ~ recipe)
         list(e, contrast(e, list("A vs BC" = c(1, -0.5, -0.5), "B vs C" = c(0, 1, -1))))}),
       args = list(specs = "recipe", contrasts = list("A vs BC" = c(1, -0.5, -0.5), "B vs C" = c(0, 1, -1)))),
  list(id = "cake_int_by", model = "cake_int",
       call = quote(emmeans(m, pairwise ~ recipe | temperature)),
       args = list(specs = "recipe | temperature", contrasts = "pairwise")),
  list(id = "cake_int_two", model = "cake_int",
       call = quote(emmeans(m, ~ recipe * temperature, at = list(temperature = c("175", "225")))),
       args = list(specs = "recipe * temperature", at = list(temperature = c("175", "225")))),
  list(id = "cake_int_two_pairwise", model = "cake_int",
       call = quote(emmeans(m, pairwise ~ recipe * temperature, at = list(temperature = c("175", "185")))),
       args = list(specs = "recipe * temperature", contrasts = "pairwise",
                   at = list(temperature = c("175", "185")))),
  list(id = "lamprey_factor_call", model = "lamprey",
       call = quote(emmeans(m, pairwise ~ DNA, type = "response")),
       args = list(specs = "DNA", contrasts = "pairwise", type = "response")),
  list(id = "cbpp_offset_response", model = "cbpp_offset",
       call = quote(emmeans(m, trt.vs.ctrl ~ period, type = "response")),
       args = list(specs = "period", contrasts = "trt.vs.ctrl", type = "response")),
  list(id = "cbpp_link", model = "cbpp",
       call = quote(emmeans(m, pairwise ~ period)),
       args = list(specs = "period", contrasts = "pairwise")),
  list(id = "cbpp_response", model = "cbpp",
       call = quote(emmeans(m, pairwise ~ period, type = "response")),
       args = list(specs = "period", contrasts = "pairwise", type = "response")),
  list(id = "cbpp_trt_response", model = "cbpp",
       call = quote(emmeans(m, trt.vs.ctrl ~ period, type = "response")),
       args = list(specs = "period", contrasts = "trt.vs.ctrl", type = "response")),
  list(id = "grouse_response", model = "grouse",
       call = quote(emmeans(m, pairwise ~ YEAR, type = "response")),
       args = list(specs = "YEAR", contrasts = "pairwise", type = "response")),
  list(id = "grouse_at", model = "grouse",
       call = quote(emmeans(m, ~ YEAR, at = list(HEIGHT = c(450, 500)))),
       args = list(specs = "YEAR", at = list(HEIGHT = c(450, 500)))),
  list(id = "grouse_nb_response", model = "grouse_nb",
       call = quote(emmeans(m, revpairwise ~ YEAR, type = "response")),
       args = list(specs = "YEAR", contrasts = "revpairwise", type = "response"))
)

glht_cases <- list(
  list(id = "glht_cake_tukey", model = "cake_add",
       call = quote(glht(m, linfct = mcp(recipe = "Tukey"))),
       args = list(mcp = list(recipe = "Tukey"))),
  list(id = "glht_cake_dunnett", model = "cake_add",
       call = quote(glht(m, linfct = mcp(temperature = "Dunnett"))),
       args = list(mcp = list(temperature = "Dunnett"))),
  list(id = "glht_cake_greater", model = "cake_add",
       call = quote(glht(m, linfct = mcp(recipe = "Dunnett"), alternative = "greater")),
       args = list(mcp = list(recipe = "Dunnett"), alternative = "greater")),
  list(id = "glht_cake_matrix", model = "cake_add",
       call = quote(glht(m, linfct = rbind("B - C" = c(0, 1, -1, 0, 0, 0, 0, 0),
                                           "lin = 50" = c(0, 0, 0, 1, 0, 0, 0, 0)),
                         rhs = c(0, 50))),
       args = list(linfct = list(rownames = c("B - C", "lin = 50"),
                                 columns = c("recipeB", "recipeC", "temperature.L"),
                                 values = list(c(1, -1, 0), c(0, 0, 1))),
                   rhs = c(0, 50))),
  list(id = "glht_cbpp_tukey", model = "cbpp",
       call = quote(glht(m, linfct = mcp(period = "Tukey"))),
       args = list(mcp = list(period = "Tukey"))),
  list(id = "glht_grouse_dunnett", model = "grouse",
       call = quote(glht(m, linfct = mcp(YEAR = "Dunnett"))),
       args = list(mcp = list(YEAR = "Dunnett")))
)

cases <- list()
for (cs in em_cases) {
  m <- fits[[cs$model]]
  e <- suppressMessages(eval(cs$call))
  if (inherits(e, "emmGrid")) e <- list(emmeans = e)
  r <- list(id = cs$id, model = cs$model, kind = "emmeans", call = deparse1(cs$call),
            args = cs$args, emmeans = frame(summary(e[[1]])))
  if (length(e) > 1) r$contrasts <- frame(summary(e[[2]]))
  r$printed <- I(capture.output(print(e[[1]])))
  if (length(e) > 1) r$printed_contrasts <- I(capture.output(print(e[[2]])))
  cases[[length(cases) + 1]] <- r
}
for (cs in glht_cases) {
  m <- fits[[cs$model]]
  g <- suppressWarnings(eval(cs$call))
  set.seed(1); s <- summary(g)
  set.seed(1); ci <- confint(g)
  tests <- list()
  for (tt in c("holm", "bonferroni", "none")) {
    st <- summary(g, test = adjusted(tt))
    tests[[tt]] <- I(unname(as.numeric(st$test$pvalues)))
  }
  st <- summary(g, test = univariate())
  # the same single-step p-values from mvtnorm run to abseps = 1e-5: multcomp's default
  # GenzBretz(maxpts = 25000, abseps = 0.001) is off by up to 0.01 for the singular
  # correlation of all pairwise comparisons (cbpp)
  cr <- cov2cor(as.matrix(g$linfct %*% vcov(m) %*% t(g$linfct)))
  tt <- as.numeric(s$test$tstat)
  k <- length(tt)
  set.seed(1)
  p_precise <- sapply(tt, function(x) {
    lo <- switch(g$alternative, two.sided = rep(-abs(x), k), greater = rep(-Inf, k), less = rep(x, k))
    up <- switch(g$alternative, two.sided = rep(abs(x), k), greater = rep(x, k), less = rep(Inf, k))
    1 - as.numeric(pmvnorm(lower = lo, upper = up, corr = cr,
                           algorithm = GenzBretz(maxpts = 1e6, abseps = 1e-5)))
  })
  r <- list(id = cs$id, model = cs$model, kind = "glht", call = deparse1(cs$call), args = cs$args,
            names = I(names(s$test$coefficients)), df = g$df,
            estimate = I(unname(s$test$coefficients)), se = I(unname(s$test$sigma)),
            statistic = I(unname(s$test$tstat)), p_single_step = I(unname(as.numeric(s$test$pvalues))),
            p_single_step_precise = I(p_precise),
            p_univariate = I(unname(as.numeric(st$test$pvalues))), p_adjusted = tests,
            quantile = as.numeric(attr(ci$confint, "calpha")),
            lwr = I(unname(ci$confint[, "lwr"])), upr = I(unname(ci$confint[, "upr"])),
            tidy = frame(tidy(s)),
            printed = I(capture.output(print(s))), printed_confint = I(capture.output(print(ci))))
  cases[[length(cases) + 1]] <- r
}

out <- list(emmeans = as.character(packageVersion("emmeans")),
            multcomp = as.character(packageVersion("multcomp")),
            lme4 = as.character(packageVersion("lme4")),
            models = lapply(models, function(x) list(data = x$data, call = deparse1(x$call))),
            cases = cases)
write_json_file(out, args[2])
