import { Construct } from 'constructs';
import { BillingBudget } from '@cdktf/provider-google/lib/billing-budget';
import { DataGoogleProject } from '@cdktf/provider-google/lib/data-google-project';
import { MonitoringNotificationChannel } from '@cdktf/provider-google/lib/monitoring-notification-channel';
import { ProjectService } from '@cdktf/provider-google/lib/project-service';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';

export interface BudgetAlertProps {
  readonly projectId: string;
  /** `XXXXXX-XXXXXX-XXXXXX` */
  readonly billingAccount: string;
  /** In the billing account's currency, whole units. */
  readonly amount: number;
  /** Also send the alerts to this address through a Cloud Monitoring e-mail channel. @default - only the default recipients */
  readonly email?: string;
  /** Name shown in the console's Budgets & alerts list. */
  readonly displayName: string;
}

/** Alert at half, most and all of the amount spent, and when the month's forecast reaches it. */
export const BUDGET_THRESHOLDS: ReadonlyArray<{ percent: number; basis: 'CURRENT_SPEND' | 'FORECASTED_SPEND' }> = [
  { percent: 0.5, basis: 'CURRENT_SPEND' },
  { percent: 0.9, basis: 'CURRENT_SPEND' },
  { percent: 1.0, basis: 'CURRENT_SPEND' },
  { percent: 1.0, basis: 'FORECASTED_SPEND' },
];

/**
 * A Cloud Billing budget on the lab's project alone, each calendar month, that e-mails when spend
 * passes the thresholds above. A budget alerts; it does not stop spending
 * (https://cloud.google.com/billing/docs/how-to/budgets, read 2026-12-05). Budgets cost nothing.
 *
 * Who gets the e-mails: with `disable_default_iam_recipients` false, the billing account's
 * Billing Account Administrators and Billing Account Users (the provider's description of the
 * field, billing_budget 6.50.0); with `email`, also that address, through a Cloud Monitoring
 * e-mail channel in the lab's project (at most 5 channels per budget).
 *
 * Creating it needs `billing.budgets.create` on the billing account (Billing Account
 * Administrator or Billing Account Costs Manager, `roles/billing.costsManager`): the lab's
 * project role is not enough. The Budget API refuses user credentials without a quota project
 * ("The billingbudgets.googleapis.com API requires a quota project", hashicorp/terraform-provider-google#7948),
 * so the budget goes through a provider that bills its calls to the lab's project
 * (`user_project_override`, `billing_project`), where the API is enabled here.
 */
export class BudgetAlert extends Construct {
  readonly budget: BillingBudget;
  readonly channel?: MonitoringNotificationChannel;

  constructor(scope: Construct, id: string, props: BudgetAlertProps) {
    super(scope, id);
    if (!(Number.isInteger(props.amount) && props.amount > 0)) {
      throw new Error(`budget amount: ${props.amount} is not valid; expected a whole amount above 0`);
    }
    const enable = (service: string) =>
      new ProjectService(this, service.split('.')[0], {
        project: props.projectId, service, disableOnDestroy: false, disableDependentServices: false,
      });
    const budgetsApi = enable('billingbudgets.googleapis.com');
    const billing = new GoogleProvider(this, 'billing-provider', {
      alias: 'billing',
      project: props.projectId,
      userProjectOverride: true,
      billingProject: props.projectId,
    });
    // The budget's project filter takes the project number, which only Google knows.
    const project = new DataGoogleProject(this, 'project', { projectId: props.projectId });

    let channels: string[] | undefined;
    if (props.email !== undefined && props.email !== '') {
      const monitoringApi = enable('monitoring.googleapis.com');
      this.channel = new MonitoringNotificationChannel(this, 'email', {
        project: props.projectId,
        displayName: `${props.displayName} (e-mail)`,
        type: 'email',
        labels: { email_address: props.email },
        dependsOn: [monitoringApi],
      });
      channels = [this.channel.id];
    }

    this.budget = new BillingBudget(this, 'budget', {
      provider: billing,
      billingAccount: props.billingAccount,
      displayName: props.displayName,
      budgetFilter: {
        projects: [`projects/${project.number}`],
        calendarPeriod: 'MONTH',
      },
      amount: { specifiedAmount: { units: String(props.amount) } },
      thresholdRules: BUDGET_THRESHOLDS.map((t) => ({ thresholdPercent: t.percent, spendBasis: t.basis })),
      allUpdatesRule: {
        disableDefaultIamRecipients: false,
        monitoringNotificationChannels: channels,
      },
      dependsOn: [budgetsApi],
    });
  }
}
