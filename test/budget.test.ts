import { BUDGET_THRESHOLDS } from '../lib/budget';
import { DEMO_ENV, Json, resourcesOf, single, synthLab } from './helpers';

const ACCOUNT = '012345-6789AB-CDEF01';
const BUDGET_TYPES = ['google_billing_budget', 'google_monitoring_notification_channel'];

describe('budget alert', () => {
  test('is off by default: no budget, no channel, no extra API, no second provider', () => {
    const stack = synthLab(DEMO_ENV);
    for (const type of BUDGET_TYPES) expect(resourcesOf(stack, type)).toEqual({});
    const apis = Object.values(resourcesOf(stack, 'google_project_service')).map((s) => s.service);
    expect(apis).not.toContain('billingbudgets.googleapis.com');
    expect(apis).not.toContain('monitoring.googleapis.com');
    expect(stack.provider.google).toHaveLength(1);
    expect(stack.data?.google_project).toBeUndefined();
  });

  describe('with a billing account and an amount', () => {
    const stack = synthLab({ ...DEMO_ENV, S8S_BUDGET_BILLING_ACCOUNT: ACCOUNT, S8S_BUDGET_AMOUNT: '40' });
    const budget = single(stack, 'google_billing_budget');

    test('budgets the lab project alone, monthly, in the account\'s currency, e-mailing its default recipients', () => {
      const projectData = Object.keys(stack.data.google_project);
      expect(projectData).toHaveLength(1);
      expect(stack.data.google_project[projectData[0]].project_id).toBe('demo-proj');
      expect(budget).toMatchObject({
        billing_account: ACCOUNT,
        display_name: 's8s-scoring-lab s8s demo-proj',
        budget_filter: { projects: [`projects/\${data.google_project.${projectData[0]}.number}`], calendar_period: 'MONTH' },
        // No currency_code: the billing account's own currency (a different one is refused).
        amount: { specified_amount: { units: '40' } },
        all_updates_rule: { disable_default_iam_recipients: false },
      });
      expect(budget.amount.specified_amount.currency_code).toBeUndefined();
      expect(budget.all_updates_rule.monitoring_notification_channels).toBeUndefined();
      expect(budget.display_name.length).toBeLessThanOrEqual(60);
      expect(budget.threshold_rules).toEqual(
        BUDGET_THRESHOLDS.map((t) => ({ threshold_percent: t.percent, spend_basis: t.basis })),
      );
      expect(resourcesOf(stack, 'google_monitoring_notification_channel')).toEqual({});
    });

    test('goes through a provider that bills the Budget API to the lab project, after enabling that API', () => {
      const providers = stack.provider.google as Json[];
      const billing = providers.find((p) => p.alias === 'billing')!;
      expect(billing).toEqual({ alias: 'billing', project: 'demo-proj', user_project_override: true, billing_project: 'demo-proj' });
      expect(budget.provider).toBe('google.billing');
      const [apiId, api] = Object.entries(resourcesOf(stack, 'google_project_service')).find(([, s]) => s.service === 'billingbudgets.googleapis.com')!;
      expect(api).toMatchObject({ project: 'demo-proj', disable_on_destroy: false });
      expect(budget.depends_on).toEqual([`google_project_service.${apiId}`]);
      // The lab's own resources keep the default provider.
      expect(single(stack, 'google_composer_environment').provider).toBeUndefined();
    });
  });

  test('with an e-mail: a Cloud Monitoring e-mail channel the budget notifies besides the default recipients', () => {
    const stack = synthLab({ ...DEMO_ENV, S8S_BUDGET_BILLING_ACCOUNT: ACCOUNT, S8S_BUDGET_AMOUNT: '40', S8S_BUDGET_EMAIL: 'finops@example.com' });
    const [channelId, channel] = Object.entries(resourcesOf(stack, 'google_monitoring_notification_channel'))[0];
    expect(channel).toMatchObject({ project: 'demo-proj', type: 'email', labels: { email_address: 'finops@example.com' } });
    const budget = single(stack, 'google_billing_budget');
    expect(budget.all_updates_rule).toEqual({
      disable_default_iam_recipients: false,
      monitoring_notification_channels: [`\${google_monitoring_notification_channel.${channelId}.id}`],
    });
    const monitoring = Object.entries(resourcesOf(stack, 'google_project_service')).find(([, s]) => s.service === 'monitoring.googleapis.com')!;
    expect(channel.depends_on).toEqual([`google_project_service.${monitoring[0]}`]);
  });
});
