# Reference values for tests/test_friction.py (issue 16, "everyday friction"):
# - cbpp binomial GLMM with nAGQ = 9: lme4's logLik (which leaves out the saturated
#   model's log-likelihood, lme4 issue #161), its estimates, and that constant;
# - the lamprey lecture model as describe("lamprey_adult_lab_DNA") prints it
#   (stock a factor with levels 0L, 2L, 20L, 200L; missing Copies counted as 0);
# - lmerTest's Satterthwaite and Kenward-Roger df and p-values of sleepstudy's fixed effects
#   (what `pymer fit ... --ddf` writes to its JSON);
# - as.data.frame(VarCorr()) and broom.mixed::tidy(): where they have NA.
#
# usage: Rscript friction.R DATA_DIR OUT.json
#   (from tests/reference: Rscript friction.R ../../src/pymer/datasets/data friction.json)
suppressMessages({library(lme4); library(lmerTest); library(broom.mixed); library(jsonlite)})
invisible(Sys.setlocale("LC_COLLATE", "C"))

args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript friction.R DATA_DIR OUT.json")
data_dir <- args[1]
rd <- function(name) read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)

out <- list()

cbpp <- rd("cbpp")
cbpp$herd <- factor(cbpp$herd, levels = as.character(1:15))
cbpp$period <- factor(cbpp$period, levels = as.character(1:4))
g9 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
            family = binomial, nAGQ = 9)
g1 <- update(g9, nAGQ = 1)
sat <- sum(dbinom(cbpp$incidence, cbpp$size, cbpp$incidence / cbpp$size, log = TRUE))
out$cbpp_nAGQ9 <- list(loglik = as.numeric(logLik(g9)), loglik_laplace = as.numeric(logLik(g1)),
                       saturated_loglik = sat, fixef = as.list(fixef(g9)),
                       theta = unname(getME(g9, "theta")))

lam <- rd("lamprey_adult_lab_DNA")
lam$stock <- factor(lam$stock, levels = c("0L", "2L", "20L", "200L"))
lam$Copies[is.na(lam$Copies)] <- 0
ml <- lme4::lmer(log10(Copies + 1) ~ stock + (1 | Sample), data = lam)
out$lamprey_example <- list(fixef_names = names(fixef(ml)), fixef = unname(fixef(ml)),
                            sigma = sigma(ml), REMLcrit = REMLcrit(ml))

sleep <- rd("sleepstudy")
sleep$Subject <- factor(sleep$Subject)
ms <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), data = sleep)
ct <- function(ddf) {
  co <- coef(summary(ms, ddf = ddf))
  list(names = rownames(co), df = unname(co[, "df"]), p = unname(co[, "Pr(>|t|)"]))
}
out$sleepstudy_ddf <- list(Satterthwaite = ct("Satterthwaite"), `Kenward-Roger` = ct("Kenward-Roger"))

m1 <- lme4::lmer(Reaction ~ Days + (1 | Subject), data = sleep)
na_pos <- function(x) which(is.na(x)) - 1L          # 0-based rows with NA
vc_na <- function(m) { v <- as.data.frame(VarCorr(m)); list(var1 = na_pos(v$var1), var2 = na_pos(v$var2)) }
out$varcorr_na <- list(random_slope = vc_na(ms), intercept_only = vc_na(m1), cbpp_glmm = vc_na(g1))
td <- tidy(m1)
out$tidy_group_na <- list(effect = td$effect, group_na = na_pos(td$group))

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), args[2])
