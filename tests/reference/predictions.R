# Reference values for adjusted predictions (ggeffects 1.2.0: ggpredict = margin
# "mean_reference", ggemmeans = "marginalmeans") on lmer, glmer, glmer.nb, lm and glm
# fits, and broom.mixed's augment() columns of an lmer fit.
#
# usage: Rscript predictions.R DATA_DIR OUT.json [TYPES.json]
#   (from tests/reference: Rscript predictions.R ../../../shared/data predictions.json)
#
# JSON: {"models": {id: {data, call, sigma, nobs, df (logLik's), coef_names, coef, vcov}}, "cases": {id: {model, fun, terms,
# type, table: {x, predicted, std.error, conf.low, conf.high, group, facet}}},
# "augment": {columns, head (first 5 rows of the numeric .columns)},
# "pretty_range": {name: {x, values}} (ggeffects::pretty_range(x), the default x values)}.
# x, group and facet are written as strings (numbers as R's as.character gives them).
suppressMessages({library(lme4); library(ggeffects); library(broom.mixed)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(width = 80, useFancyQuotes = FALSE)

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))
args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript predictions.R DATA_DIR OUT.json [TYPES.json]")
data_dir <- args[1]
types <- read_types(if (length(args) >= 3) args[3] else file.path(data_dir, "lme4_datasets_types.json"))

calls <- list(
  sleepstudy_lmer = list(data = "sleepstudy", call = quote(lmer(Reaction ~ Days + (Days | Subject), data = d))),
  sites_lmer = list(data = "robinson_sites", call = quote(lmer(y ~ x + (1 | site), data = d, REML = FALSE))),
  batmass_lmer = list(data = "batMass", call = quote(lmer(mass ~ species * forest + (1 | sites), data = d))),
  cbpp_glmer = list(data = "cbpp", call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial))),
  grouse_glmer = list(data = "grouseticks", call = quote(glmer(TICKS ~ YEAR + HEIGHT + (1 | BROOD), data = d, family = poisson))),
  sites_nb = list(data = "robinson_sites_counts", call = quote(glmer.nb(y ~ x + (1 | site), data = d))),
  grouse_nb = list(data = "grouseticks", call = quote(glmer.nb(TICKS ~ YEAR + scale(HEIGHT) + (1 | LOCATION), data = d))),
  sleepstudy_lm = list(data = "sleepstudy", call = quote(lm(Reaction ~ Days, data = d))),
  cake_lm = list(data = "cake", call = quote(lm(angle ~ recipe * temp + replicate, data = d))),
  cbpp_glm = list(data = "cbpp", call = quote(glm(cbind(incidence, size - incidence) ~ period, data = d, family = binomial)))
)
fits <- list(); out <- list(models = list(), cases = list())
for (id in names(calls)) {
  d <- load_data(calls[[id]]$data, data_dir, types)
  fit <- suppressWarnings(eval(calls[[id]]$call))
  fits[[id]] <- fit
  out$models[[id]] <- list(data = calls[[id]]$data, call = deparse1(calls[[id]]$call),
                           sigma = sigma(fit), nobs = nobs(fit), df = attr(logLik(fit), "df"),
                           coef_names = I(names(if (inherits(fit, "merMod")) fixef(fit) else coef(fit))),
                           coef = I(unname(if (inherits(fit, "merMod")) fixef(fit) else coef(fit))),
                           vcov = unname(as.matrix(vcov(fit))))
}

case <- function(id, model, terms, fun = "ggpredict", type = "fe") {
  message("case ", id)
  f <- match.fun(fun)
  p <- if (fun == "ggpredict") f(fits[[model]], terms, type = type) else f(fits[[model]], terms)
  p <- as.data.frame(p)
  tb <- list(x = I(as.character(p$x)), predicted = I(p$predicted), std.error = I(p$std.error),
             conf.low = I(p$conf.low), conf.high = I(p$conf.high), group = I(as.character(p$group)))
  if (!is.null(p$facet)) tb$facet <- I(as.character(p$facet))
  out$cases[[id]] <<- list(model = model, fun = fun, terms = I(terms), type = type, table = tb)
}
case("sleepstudy_days", "sleepstudy_lmer", "Days")
case("sleepstudy_days_values", "sleepstudy_lmer", "Days [2, 4.5, 8]")
case("sleepstudy_days_meansd", "sleepstudy_lmer", "Days [meansd]")
case("sleepstudy_days_quart", "sleepstudy_lmer", "Days [quart]")
case("sleepstudy_days_minmax", "sleepstudy_lmer", "Days [minmax]")
case("sleepstudy_days_random", "sleepstudy_lmer", "Days", type = "re")
case("sleepstudy_days_emmeans", "sleepstudy_lmer", "Days", fun = "ggemmeans")
case("sites_x_pretty", "sites_lmer", "x")
case("sites_x_values", "sites_lmer", "x [-8, -4, 0, 4, 8]")
case("batmass_species", "batmass_lmer", "species")
case("grouse_year", "grouse_glmer", "YEAR")
case("batmass_forest_species", "batmass_lmer", c("forest [0, 20, 40]", "species"))
case("batmass_species_forest_meansd", "batmass_lmer", c("species", "forest"))
case("batmass_species_emmeans", "batmass_lmer", "species", fun = "ggemmeans")
case("batmass_forest_emmeans", "batmass_lmer", "forest [0, 20, 40]", fun = "ggemmeans")
case("batmass_forest_random", "batmass_lmer", "forest [0, 20, 40]", type = "re")
case("cbpp_period", "cbpp_glmer", "period")
case("cbpp_period_random", "cbpp_glmer", "period", type = "re")
case("cbpp_period_emmeans", "cbpp_glmer", "period", fun = "ggemmeans")
case("grouse_height_minmax", "grouse_glmer", "HEIGHT [minmax]")
case("grouse_height_year", "grouse_glmer", c("HEIGHT [400, 450, 500]", "YEAR"))
case("grouse_height_emmeans", "grouse_glmer", "HEIGHT [400, 450, 500]", fun = "ggemmeans")
case("grouse_height_random", "grouse_glmer", "HEIGHT [400, 450, 500]", type = "re")
case("sites_nb_x", "sites_nb", "x [-8, -4, 0, 4, 8]")
case("sites_nb_x_random", "sites_nb", "x [-8, -4, 0, 4, 8]", type = "re")
case("grouse_nb_height", "grouse_nb", "HEIGHT [400, 450, 500]")
case("grouse_nb_height_year", "grouse_nb", c("HEIGHT [minmax]", "YEAR"))
case("grouse_nb_year_random", "grouse_nb", "YEAR", type = "re")
case("grouse_nb_year_emmeans", "grouse_nb", "YEAR", fun = "ggemmeans")
case("sleepstudy_lm_days", "sleepstudy_lm", "Days")
case("cake_three_terms", "cake_lm", c("temp [175, 205, 225]", "recipe", "replicate [1, 2]"))
case("cake_temp_recipe", "cake_lm", c("temp [175, 225]", "recipe"))
case("cbpp_glm_period", "cbpp_glm", "period")

# ggeffects' default values of a numeric focal term without brackets
vecs <- list(days = 0:9, ints_0_20 = 0:20, ints_0_50 = 0:50, ints_0_99 = 0:99, ints_1_1000 = 1:1000,
             unit_200 = seq(0, 1, length = 200), sites_like = seq(-9.99, 9.89, length = 160),
             halves = seq(0, 3, length = 7), wide_100 = seq(0, 250, length = 100),
             heights = seq(465, 533, length = 50), two = c(0, 1), tenths = seq(0, 6.9, length = 30),
             five = seq(0, 1, length = 5), petal = iris$Petal.Length)
out$pretty_range <- lapply(vecs, function(x) list(x = I(x), values = I(pretty_range(x))))

a <- as.data.frame(augment(fits$sleepstudy_lmer))
dots <- grep("^\\.", names(a), value = TRUE)
out$augment <- list(columns = I(names(a)), head = lapply(setNames(dots, dots), function(c) I(head(a[[c]], 5))))
write_json_file(out, args[2])
