/** GraphQL input types of the presence contract. Absent fields stay undefined; explicit null stays null. */
import { Field, ID, InputType } from 'type-graphql';
import { ActivityType, DeviceType, StatusPreference } from './presence.model';

@InputType()
export class DeviceInput {
  @Field(() => ID) id!: string;
  @Field(() => DeviceType, { defaultValue: DeviceType.WEB }) type!: DeviceType;
  @Field(() => Boolean, { defaultValue: false, description: 'True when the user has been inactive on this device: the device shows AWAY.' })
  idle!: boolean;
}

@InputType()
export class ActivityInput {
  @Field(() => ActivityType) type!: ActivityType;
  @Field() name!: string;
  @Field(() => String, { nullable: true }) url?: string | null;
}

@InputType({ description: 'Absent fields stay as they are; an explicit null clears customStatus or activity.' })
export class SetStatusInput {
  @Field(() => StatusPreference, { nullable: true }) status?: StatusPreference | null;
  @Field(() => String, { nullable: true }) customStatus?: string | null;
  @Field(() => ActivityInput, { nullable: true }) activity?: ActivityInput | null;
}
